//go:build !linux

package edge

import (
	"errors"
	"os"
)

// tmpfsSupported: elsewhere secret volumes are written to disk.
const tmpfsSupported = false

func mountTmpfs(string, os.FileMode, int) error {
	return errors.New("tmpfs mounts are made on Linux only")
}

func unmount(string) error { return errors.New("unmounting is done on Linux only") }
