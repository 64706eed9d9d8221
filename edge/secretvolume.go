package edge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/skiff-sh/skiff/api"
)

// A secret volume's files should never reach the node's disk, where they
// outlive the pod and leave with a stolen SD card. As the kubelet does, the
// agent mounts a small tmpfs at the volume's directory before it writes the
// files (Linux, as root), and unmounts it when the pod goes (Forget). Where
// it cannot (not root, not Linux, a mount that fails) the files go to disk,
// and the agent says why once.
//
// Modes: the files keep the mode the pod asks for (defaultMode, items'
// mode; 0644 by default), and the volume's directory is 0755, because a
// container's non-root user reads them through the bind mount as in
// Kubernetes. Other users of the node are kept out by the directories
// above it: pods/ and pods/<uid>/ are 0750 and owned by the agent's user, and
// pods/<uid>/volumes/ is made 0750 here.

// secretVolumeMode is the mode of a secret volume's directory (the tmpfs
// root).
const secretVolumeMode = 0o755

// secretTmpfsBytes caps a secret volume's tmpfs: a Secret holds at most
// api.MaxConfigBytes, and while a changed Secret is written the old and
// new files are there together.
const secretTmpfsBytes = 2*api.MaxConfigBytes + 64<<10

// secretVolumes prepares secret volumes' directories for one agent.
type secretVolumes struct {
	log      *slog.Logger
	tryMount bool // false: never try (not root, not Linux)
	why      string
	warnOnce sync.Once
}

func newSecretVolumes(log *slog.Logger) *secretVolumes {
	s := &secretVolumes{log: log, tryMount: tmpfsSupported && os.Geteuid() == 0}
	switch {
	case !tmpfsSupported:
		s.why = "tmpfs mounts are made on Linux only"
	case !s.tryMount:
		s.why = "the agent does not run as root, so it cannot mount a tmpfs"
	}
	return s
}

// prepare makes dir ready for a secret volume's files: a tmpfs mounted
// there when possible, else a directory on disk. A directory that already
// holds files (set up on disk before) stays as it is, so that a running
// container's bind mount keeps seeing them.
func (s *secretVolumes) prepare(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Dir(dir), 0o750); err != nil {
		return err
	}
	if err := os.Mkdir(dir, secretVolumeMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if !s.tryMount {
		s.onDisk(dir, errors.New(s.why))
		return nil
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		s.onDisk(dir, err)
		return nil
	}
	if mounted {
		return nil // set up before (the agent restarted)
	}
	if empty, err := isEmptyDir(dir); err != nil || !empty {
		return err
	}
	if err := mountTmpfs(dir, secretVolumeMode, secretTmpfsBytes); err != nil {
		s.onDisk(dir, err)
	}
	return nil
}

// onDisk says, once per agent, that secret volumes are written to disk.
func (s *secretVolumes) onDisk(dir string, why error) {
	s.warnOnce.Do(func() {
		s.log.Warn("secret volumes are written to disk, not to a tmpfs: their files stay on the node's disk until the pod is removed",
			"reason", why.Error(), "volume", dir)
	})
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// isMountPoint reports whether dir is a mount point of this process's
// mount namespace.
func isMountPoint(dir string) (bool, error) {
	abs, err := realPath(dir)
	if err != nil {
		return false, err
	}
	mounts, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m == abs {
			return true, nil
		}
	}
	return false, nil
}

// unmountUnder unmounts every mount at or below dir (deepest first), as a
// pod's directory is removed. Lazily (MNT_DETACH): a process still using
// a mount does not keep the pod's files from going.
func unmountUnder(dir string) error {
	if !tmpfsSupported {
		return nil
	}
	abs, err := realPath(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- { // later mounts may sit on earlier ones
		m := mounts[i]
		if m != abs && !strings.HasPrefix(m, abs+string(filepath.Separator)) {
			continue
		}
		if err := unmount(m); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// mountInfoPath lists the mounts of the process's mount namespace.
const mountInfoPath = "/proc/self/mountinfo"

// mountPoints returns the mount points in /proc/self/mountinfo, in its
// order (a mount after the one it sits on).
func mountPoints() ([]string, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

// parseMountInfo reads the mount point (5th field, octal-escaped) of each
// line of a mountinfo file (proc(5)).
func parseMountInfo(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, unescapeMountPath(fields[4]))
	}
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's escapes: \040 (space), \011 (tab),
// \012 (newline) and \134 (backslash).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
