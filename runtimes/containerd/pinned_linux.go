package containerd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/runtimes"
)

// descriptorPath matches /proc/self/fd/<n> and /proc/<pid>/fd/<n>.
var descriptorPath = regexp.MustCompile(`^/proc/(self|[0-9]+)/fd/[0-9]+$`)

// isOwnDescriptorPath reports whether p names a descriptor of this process.
func isOwnDescriptorPath(p string) bool {
	m := descriptorPath.FindStringSubmatch(p)
	return m != nil && (m[1] == "self" || m[1] == strconv.Itoa(os.Getpid()))
}

// bindDescriptorMounts gives runc a name for each mount whose host path is
// a descriptor of this process (/proc/<pid>/fd/<n>). runc cannot mount
// such a path itself: it resolves to a mount of the host's mount
// namespace, and runc mounts from the container's, where the kernel
// refuses a bind of a foreign mount (EINVAL). So the descriptor's file is
// bind-mounted here, in the host's namespace, onto an entry of a private
// directory (0700, made for this start), which runc then binds. The
// returned mounts use those entries; release unmounts and removes them,
// and is called once the task is created: the container's mounts are its
// own by then. The descriptor decides what is mounted, not a name, so a
// file swapped for a symlink after the caller checked it changes nothing.
func bindDescriptorMounts(mounts []runtimes.Mount) (out []runtimes.Mount, release func(), err error) {
	release = func() {}
	var dir string
	var bound []string
	releaseAll := func() {
		for _, p := range bound {
			// Detach: a process of the host may still have it open.
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				continue // never remove a directory that is still a mount
			}
			_ = os.Remove(p)
		}
		if dir != "" {
			_ = os.Remove(dir) // only when empty: never recursive
		}
	}
	defer func() {
		if err != nil {
			releaseAll()
		}
	}()
	out = mounts
	for i, m := range mounts {
		if !isOwnDescriptorPath(m.HostPath) {
			continue
		}
		if dir == "" {
			if dir, err = os.MkdirTemp("", "skiff-mounts-"); err != nil {
				return nil, release, fmt.Errorf("mounts[%d]: directory for the bind: %w", i, err)
			}
			out = append([]runtimes.Mount(nil), mounts...)
		}
		st, err := os.Stat(m.HostPath)
		if err != nil {
			return nil, release, fmt.Errorf("mounts[%d].hostPath: %w", i, err)
		}
		target := filepath.Join(dir, strconv.Itoa(i))
		if st.IsDir() {
			err = os.Mkdir(target, 0o700)
		} else {
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return nil, release, fmt.Errorf("mounts[%d]: bind target: %w", i, err)
		}
		if err := unix.Mount(m.HostPath, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			_ = os.Remove(target)
			return nil, release, fmt.Errorf("mounts[%d]: bind %s (the agent needs CAP_SYS_ADMIN): %w", i, m.HostPath, err)
		}
		bound = append(bound, target)
		// Not shared with other mount namespaces of the host.
		if err := unix.Mount("", target, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return nil, release, fmt.Errorf("mounts[%d]: make the bind private: %w", i, err)
		}
		out[i].HostPath = target
	}
	return out, releaseAll, nil
}
