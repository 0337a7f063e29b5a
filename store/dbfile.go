package store

import (
	"encoding/binary"
	"io"
	"os"
)

// bboltMagic is the number bbolt writes into both meta pages of a file.
const bboltMagic = 0xED0CDAED

// IsDatabaseFile reports whether path holds a bbolt database — the live
// file, a backup or one that restore kept — by the magic number of its
// first meta page (after the 16-byte page header), in either byte order. It
// opens nothing with bbolt and takes no lock, so a front end can refuse to
// write a report over a database even while a server holds it.
func IsDatabaseFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [20]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	m := b[16:20]
	return binary.LittleEndian.Uint32(m) == bboltMagic || binary.BigEndian.Uint32(m) == bboltMagic
}
