package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/celltrack/celltrack/lot"
	"github.com/urfave/cli/v2"
)

// forceFlag lets a command that writes --out replace an existing file.
var forceFlag = &cli.BoolFlag{Name: "force", Usage: "replace --out if it already exists"}

// writeOut writes a report, certificate or label file. Such files carry
// patient data, so they are created readable by their owner only (0600), and
// an existing file is never silently replaced — it may be another patient's
// report or an earlier print someone still needs — unless force. A file
// replaced with force is made 0600 too. A write that fails removes what it
// wrote.
func writeOut(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return lot.Errorf(lot.ECONFLICT, "--out %s already exists; celltrack does not overwrite it — choose a new name, or add --force to replace it", path)
	} else if err != nil {
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return lot.Errorf(lot.EINVALID, "--out %s cannot be written: %v", path, err)
	}
	return nil
}
