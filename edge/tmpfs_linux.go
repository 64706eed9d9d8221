//go:build linux

package edge

import (
	"fmt"
	"os"
	"syscall"
)

// tmpfsSupported: the agent mounts secret volumes as tmpfs on Linux.
const tmpfsSupported = true

// mountTmpfs mounts a tmpfs of at most size bytes at dir, root mode mode,
// without setuid programs or device files.
func mountTmpfs(dir string, mode os.FileMode, size int) error {
	data := fmt.Sprintf("mode=%04o,size=%d", mode.Perm(), size)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, data); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

// unmount detaches the mount at dir.
func unmount(dir string) error {
	return syscall.Unmount(dir, syscall.MNT_DETACH)
}
