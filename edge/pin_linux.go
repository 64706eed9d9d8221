package edge

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openat2Attempts bounds the retries of an openat2 that the kernel
// answered with EAGAIN (a rename raced with RESOLVE_BENEATH), so that a
// container renaming in a loop cannot keep the agent busy.
const openat2Attempts = 16

// pinExact opens path, which must be absolute and contain no symlink, as
// an O_PATH descriptor. A component that became a symlink since the path
// was resolved makes it fail rather than follow.
func pinExact(path string) (*os.File, error) {
	f, err := openat2(unix.AT_FDCWD, path, unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("a part of %s became a symlink after it was checked: refused", path)
	}
	return f, err
}

// pinBeneath opens sub inside dir as an O_PATH descriptor. Symlinks are
// followed only while they stay inside dir; one that leads out (an
// absolute target, or ".." past dir) is refused, as is "..".
func pinBeneath(dir, sub string) (*os.File, error) {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the volume: %w", err)
	}
	defer unix.Close(d)
	f, err := openat2(d, sub, unix.RESOLVE_BENEATH|unix.RESOLVE_NO_MAGICLINKS)
	if errors.Is(err, unix.EXDEV) {
		return nil, errors.New("it leads out of the volume (through a symlink or ..): refused")
	}
	return f, err
}

func openat2(dirfd int, path string, resolve uint64) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve}
	var err error
	for range openat2Attempts {
		var fd int
		fd, err = unix.Openat2(dirfd, path, &how)
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.ENOSYS) {
		return nil, fmt.Errorf("open %s: the kernel has no openat2; hostPath and subPath volumes need Linux 5.6 or newer: %w", path, err)
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: err}
}
