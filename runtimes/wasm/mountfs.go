package wasm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/skiff-sh/skiff/runtimes"
)

// mountFS is what a guest sees of one mount: a wazero experimental sys.FS
// whose every path operation is resolved by an os.Root opened on the mount's
// host directory, so that nothing the guest names can lead outside it.
//
// # Notes
//
//   - Why not wazero's own WithDirMount: its DirFS joins the guest's path to
//     the host directory and hands the result to the kernel, which follows
//     symbolic links wherever they point. A guest that may create symlinks
//     (path_symlink) could link to "../../.." or "/" and read or write the
//     node as the agent's user. wazero refuses ".." in the guest's path
//     lexically, but a symlink is resolved by the kernel, after that check.
//   - os.Root resolves each path one component at a time with openat and
//     O_NOFOLLOW from a descriptor of the mount, following symlinks itself
//     and refusing any that is absolute or climbs above the mount; ".." is
//     resolved the same way. A refusal reaches the guest as EPERM. This
//     holds for symlinks the guest made, ones already in a hostPath, and
//     ones swapped in while an operation runs.
//   - Symlinks the guest creates must be relative and free of ".." (EPERM
//     otherwise). Following one through the mount could not escape anyway,
//     but the link stays on the node after the pod: the agent resolves a
//     volume's subPath on the host, and a hostPath may be shared with
//     containers and host programs, which would follow it. A relative,
//     downward target stays inside whatever directory the link is moved
//     to. The cost: "ln -s ../lib lib2" does not work in a Wasm pod.
//   - Hard links go through os.Root too: both names resolve inside the
//     mount, and a symlink is linked as itself, never its target, and only
//     if it points down (a link of one the host left pointing out would be
//     a new such symlink).
//   - A read-only mount refuses every write, creation and change with EROFS
//     before anything reaches the host, and its files are opened read-only.
//     (wazero's own read-only mount checks only the access mode, so an
//     O_RDONLY open with O_TRUNC or O_CREAT got through.)
//   - Permissions the guest sets (open with create, mkdir, chmod) keep only
//     the rwx bits: a guest runs as the agent's user, so it must not make a
//     setuid file on a hostPath.
//   - The root descriptor is opened once per instance and closed when the
//     instance ends; os.Root costs an openat per path component.
type mountFS struct {
	experimentalsys.UnimplementedFS
	root     *os.Root
	readOnly bool
}

var _ experimentalsys.FS = (*mountFS)(nil)

// openMounts opens an os.Root for each mount and returns wazero's file
// system configuration with them preopened at their guest paths. The
// caller closes the roots once the instance is closed; on error none is
// left open.
func openMounts(mounts []runtimes.Mount) (wazero.FSConfig, []*os.Root, error) {
	fsc := wazero.NewFSConfig()
	roots := make([]*os.Root, 0, len(mounts))
	for i, mt := range mounts {
		root, err := os.OpenRoot(mt.HostPath)
		if err != nil {
			closeRoots(roots)
			return nil, nil, fmt.Errorf("mounts[%d].hostPath: %w", i, err)
		}
		roots = append(roots, root)
		mfs := &mountFS{root: root, readOnly: mt.ReadOnly}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(mfs, path.Clean(mt.GuestPath))
	}
	return fsc, roots, nil
}

func closeRoots(roots []*os.Root) {
	for _, r := range roots {
		_ = r.Close()
	}
}

// pathErrno turns an error of an os.Root method into the guest's errno.
// Errors that carry no errno are os.Root refusing a path that leaves the
// mount: those are EPERM.
func pathErrno(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	switch {
	case errors.As(err, &en):
		return experimentalsys.UnwrapOSError(en)
	case errors.Is(err, fs.ErrClosed):
		return experimentalsys.EBADF
	}
	return experimentalsys.EPERM
}

// rel makes a path wazero hands over relative to the mount: wazero joins a
// directory descriptor opened at the mount's top ("") and a name as "/name".
// Every path is inside the mount, so a leading slash only means its top.
func rel(p string) string {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// Write-like open flags: any of them needs a writable mount.
const writeFlags = experimentalsys.O_WRONLY | experimentalsys.O_RDWR | experimentalsys.O_CREAT |
	experimentalsys.O_TRUNC | experimentalsys.O_APPEND

// OpenFile implements experimentalsys.FS.
func (m *mountFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	p = rel(p)
	if m.readOnly && flag&writeFlags != 0 {
		if flag&experimentalsys.O_DIRECTORY != 0 {
			return nil, experimentalsys.EISDIR
		}
		return nil, experimentalsys.EROFS
	}
	if flag&experimentalsys.O_NOFOLLOW != 0 {
		// os.Root follows a final symlink (inside the mount) even with
		// O_NOFOLLOW; the guest asked for the link itself, which cannot be
		// opened.
		if fi, err := m.root.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, experimentalsys.ELOOP
		}
	}
	f, err := m.root.OpenFile(p, osOpenFlag(flag), perm&fs.ModePerm)
	if err != nil {
		return nil, pathErrno(err)
	}
	mf := &mountFile{fs: m, path: p, flag: flag, file: f}
	if flag&experimentalsys.O_DIRECTORY != 0 {
		if isDir, errno := mf.IsDir(); errno != 0 || !isDir {
			_ = f.Close()
			if errno == 0 {
				errno = experimentalsys.ENOTDIR
			}
			return nil, errno
		}
	}
	return mf, 0
}

// osOpenFlag maps wazero's open flags to os.OpenFile's. O_DIRECTORY and
// O_NOFOLLOW are checked by OpenFile itself; O_NONBLOCK means nothing for
// files and directories.
func osOpenFlag(flag experimentalsys.Oflag) int {
	var o int
	switch flag & (experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = os.O_RDWR
	case experimentalsys.O_WRONLY:
		o = os.O_WRONLY
	default:
		o = os.O_RDONLY
	}
	for _, f := range []struct {
		sys experimentalsys.Oflag
		os  int
	}{
		{experimentalsys.O_APPEND, os.O_APPEND},
		{experimentalsys.O_CREAT, os.O_CREATE},
		{experimentalsys.O_EXCL, os.O_EXCL},
		{experimentalsys.O_TRUNC, os.O_TRUNC},
		{experimentalsys.O_SYNC | experimentalsys.O_DSYNC | experimentalsys.O_RSYNC, os.O_SYNC},
	} {
		if flag&f.sys != 0 {
			o |= f.os
		}
	}
	return o
}

// Lstat implements experimentalsys.FS.
func (m *mountFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	p = rel(p)
	fi, err := m.root.Lstat(p)
	if err != nil {
		return sys.Stat_t{}, pathErrno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Stat implements experimentalsys.FS.
func (m *mountFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	p = rel(p)
	fi, err := m.root.Stat(p)
	if err != nil {
		return sys.Stat_t{}, pathErrno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Mkdir implements experimentalsys.FS.
func (m *mountFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	p = rel(p)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	return pathErrno(m.root.Mkdir(p, perm&fs.ModePerm))
}

// Chmod implements experimentalsys.FS. Only the rwx bits are applied.
func (m *mountFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	p = rel(p)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	return pathErrno(m.root.Chmod(p, perm&fs.ModePerm))
}

// Rename implements experimentalsys.FS.
func (m *mountFS) Rename(from, to string) experimentalsys.Errno {
	from, to = rel(from), rel(to)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	return pathErrno(m.root.Rename(from, to))
}

// Rmdir implements experimentalsys.FS. os.Root has one Remove for files and
// directories, so the type is checked first; should the guest swap the
// entry in between, what is removed is still its own, inside the mount.
func (m *mountFS) Rmdir(p string) experimentalsys.Errno {
	p = rel(p)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	fi, err := m.root.Lstat(p)
	if err != nil {
		return pathErrno(err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return pathErrno(m.root.Remove(p))
}

// Unlink implements experimentalsys.FS; see Rmdir.
func (m *mountFS) Unlink(p string) experimentalsys.Errno {
	p = rel(p)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	fi, err := m.root.Lstat(p)
	if err != nil {
		return pathErrno(err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return pathErrno(m.root.Remove(p))
}

// Link implements experimentalsys.FS. A symlink is linked as itself, and
// only if its target points down (see Symlink): a hard link of a symlink the
// host left pointing out would be a new such symlink.
func (m *mountFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if m.readOnly {
		return experimentalsys.EROFS
	}
	oldPath, newPath = rel(oldPath), rel(newPath)
	if target, err := m.root.Readlink(oldPath); err == nil && !downwardTarget(target) {
		return experimentalsys.EPERM
	}
	return pathErrno(m.root.Link(oldPath, newPath))
}

// Symlink implements experimentalsys.FS. target must be relative without
// ".." (see the Notes on mountFS).
func (m *mountFS) Symlink(target, link string) experimentalsys.Errno {
	link = rel(link)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	if !downwardTarget(target) {
		return experimentalsys.EPERM
	}
	return pathErrno(m.root.Symlink(target, link))
}

// downwardTarget reports whether a symlink target names something below
// the link's own directory wherever the link is: relative, without "..",
// and, as a guest could mean either, without a backslash or a NUL.
func downwardTarget(target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsAny(target, "\\\x00") {
		return false
	}
	for part := range strings.SplitSeq(target, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

// Readlink implements experimentalsys.FS.
func (m *mountFS) Readlink(p string) (string, experimentalsys.Errno) {
	p = rel(p)
	target, err := m.root.Readlink(p)
	if err != nil {
		return "", pathErrno(err)
	}
	return target, 0
}

// Utimens implements experimentalsys.FS, following a final symlink inside
// the mount.
func (m *mountFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	p = rel(p)
	if m.readOnly {
		return experimentalsys.EROFS
	}
	return pathErrno(m.root.Chtimes(p, utimensTime(atim), utimensTime(mtim)))
}

// utimensTime converts a WASI timestamp; the zero time.Time tells os.Chtimes
// to leave the time as it is, which is what UTIME_OMIT asks.
func utimensTime(ns int64) time.Time {
	if ns == experimentalsys.UTIME_OMIT {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// mountFile is an *os.File opened through a mountFS, as wazero's
// experimental sys.File. wazero exports no adapter for an *os.File it did
// not open itself, so this implements what WASI preview1 needs.
type mountFile struct {
	experimentalsys.UnimplementedFile
	fs     *mountFS
	path   string // as opened, for SetAppend's reopen
	flag   experimentalsys.Oflag
	file   *os.File
	closed bool

	// dev, ino and dir do not change while the file is open.
	statted bool
	dev     uint64
	ino     sys.Inode
	dir     bool
}

var _ experimentalsys.File = (*mountFile)(nil)

func (f *mountFile) cachedStat() experimentalsys.Errno {
	if f.statted {
		return 0
	}
	_, errno := f.Stat()
	return errno
}

// Dev implements experimentalsys.File.
func (f *mountFile) Dev() (uint64, experimentalsys.Errno) {
	errno := f.cachedStat()
	return f.dev, errno
}

// Ino implements experimentalsys.File.
func (f *mountFile) Ino() (sys.Inode, experimentalsys.Errno) {
	errno := f.cachedStat()
	return f.ino, errno
}

// IsDir implements experimentalsys.File.
func (f *mountFile) IsDir() (bool, experimentalsys.Errno) {
	errno := f.cachedStat()
	return f.dir, errno
}

// IsAppend implements experimentalsys.File.
func (f *mountFile) IsAppend() bool { return f.flag&experimentalsys.O_APPEND != 0 }

// SetAppend implements experimentalsys.File. Go's *os.File fixes append
// mode at open, so the file is opened again through the mount with the new
// flag, and kept only if it is still the same file.
func (f *mountFile) SetAppend(enable bool) experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	if enable == f.IsAppend() {
		return 0
	}
	flag := f.flag &^ (experimentalsys.O_CREAT | experimentalsys.O_TRUNC | experimentalsys.O_EXCL | experimentalsys.O_APPEND)
	if enable {
		flag |= experimentalsys.O_APPEND
	}
	nf, errno := f.fs.OpenFile(f.path, flag, 0)
	if errno != 0 {
		return errno
	}
	reopened := nf.(*mountFile)
	oldInfo, err1 := f.file.Stat()
	newInfo, err2 := reopened.file.Stat()
	if err := errors.Join(err1, err2); err != nil || !os.SameFile(oldInfo, newInfo) {
		_ = reopened.file.Close()
		if err != nil {
			return experimentalsys.UnwrapOSError(err)
		}
		return experimentalsys.ENOENT // renamed or replaced since it was opened
	}
	if off, err := f.file.Seek(0, io.SeekCurrent); err == nil {
		_, _ = reopened.file.Seek(off, io.SeekStart)
	}
	_ = f.file.Close()
	f.file, f.flag = reopened.file, flag
	return 0
}

// Stat implements experimentalsys.File.
func (f *mountFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if f.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	fi, err := f.file.Stat()
	if err != nil {
		return sys.Stat_t{}, experimentalsys.UnwrapOSError(err)
	}
	st := sys.NewStat_t(fi)
	f.statted, f.dev, f.ino, f.dir = true, st.Dev, st.Ino, fi.IsDir()
	return st, 0
}

// Read implements experimentalsys.File.
func (f *mountFile) Read(buf []byte) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := f.file.Read(buf)
	return n, experimentalsys.UnwrapOSError(err) // io.EOF is 0
}

// Pread implements experimentalsys.File.
func (f *mountFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := f.file.ReadAt(buf, off)
	return n, experimentalsys.UnwrapOSError(err)
}

// fileOffset is int64. go vet's stdmethods check wants every method named
// Seek to have io.Seeker's signature, which sys.File's Seek (returning an
// Errno) cannot; it recognizes the method by an int64 first parameter, which
// this alias spells differently.
type fileOffset = int64

// Seek implements experimentalsys.File. Seeking a directory to 0 rewinds
// its listing, which then shows entries made since.
func (f *mountFile) Seek(offset fileOffset, whence int) (int64, experimentalsys.Errno) {
	n, err := f.file.Seek(offset, whence)
	return n, experimentalsys.UnwrapOSError(err)
}

// Readdir implements experimentalsys.File.
func (f *mountFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if f.closed {
		return nil, experimentalsys.EBADF
	}
	infos, err := f.file.Readdir(n)
	if errno := experimentalsys.UnwrapOSError(err); errno != 0 {
		if errno == experimentalsys.ENOTDIR || errno == experimentalsys.EINVAL {
			errno = experimentalsys.EBADF // not a directory
		}
		return nil, errno
	}
	dirents := make([]experimentalsys.Dirent, 0, len(infos))
	for _, fi := range infos {
		dirents = append(dirents, experimentalsys.Dirent{
			Name: fi.Name(),
			Ino:  sys.NewStat_t(fi).Ino, // Go guests skip entries without one
			Type: fi.Mode().Type(),
		})
	}
	return dirents, 0
}

// Write implements experimentalsys.File.
func (f *mountFile) Write(buf []byte) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := f.file.Write(buf)
	return n, experimentalsys.UnwrapOSError(err)
}

// Pwrite implements experimentalsys.File.
func (f *mountFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := f.file.WriteAt(buf, off)
	return n, experimentalsys.UnwrapOSError(err)
}

// Truncate implements experimentalsys.File.
func (f *mountFile) Truncate(size int64) experimentalsys.Errno {
	if size < 0 {
		return experimentalsys.EINVAL
	}
	return experimentalsys.UnwrapOSError(f.file.Truncate(size))
}

// Sync implements experimentalsys.File.
func (f *mountFile) Sync() experimentalsys.Errno {
	return experimentalsys.UnwrapOSError(f.file.Sync())
}

// Datasync implements experimentalsys.File as a full sync: os.File has no
// fdatasync.
func (f *mountFile) Datasync() experimentalsys.Errno { return f.Sync() }

// Utimens implements experimentalsys.File. It returns ENOSYS, on which
// wazero sets the times by the file's path through mountFS.Utimens.
func (f *mountFile) Utimens(int64, int64) experimentalsys.Errno { return experimentalsys.ENOSYS }

// Close implements experimentalsys.File.
func (f *mountFile) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	return experimentalsys.UnwrapOSError(f.file.Close())
}
