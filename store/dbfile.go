package store

import (
	"encoding/binary"
	"io"
	"os"
	"regexp"
	"sort"
	"sync"
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

// dbIDPattern is how the database identity (meta "db_id", a UUID in text)
// lies in a bbolt leaf page: the key's bytes followed by the value's.
// Compiled at first use, as the other patterns of this package: a process
// start would otherwise pay for each (issue 10).
var dbIDPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`db_id([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)
})

// scanDBIDs finds the database identities named in the raw pages of a
// file bbolt cannot open (its meta pages lost, say): restore compares them
// with the backup's, so that a backup of another database of the same
// facility is not put in place as if it were this one's. It reads the file
// in chunks, without bbolt; nil when none is found or it cannot be read.
func scanDBIDs(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const chunk = 1 << 20
	overlap := len("db_id") + 36 - 1
	buf := make([]byte, chunk+overlap)
	seen := map[string]bool{}
	var ids []string
	n := 0
	for {
		m, err := io.ReadFull(f, buf[n:])
		n += m
		for _, sub := range dbIDPattern().FindAllSubmatch(buf[:n], -1) {
			if id := string(sub[1]); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if err != nil {
			break
		}
		n = copy(buf, buf[n-overlap:n])
	}
	sort.Strings(ids)
	return ids
}
