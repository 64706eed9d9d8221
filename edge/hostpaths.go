package edge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// What a container sees of the node is decided here, not by the pod:
//
//   - A hostPath volume is run only when its path, cleaned and with
//     symlinks resolved, is one of Options.HostPathAllow or lies beneath
//     one; otherwise the container waits with ReasonHostPathNotAllowed.
//   - A hostPath, and a subPath of any volume, is handed to the driver
//     pinned: the agent opens what it checked (O_PATH, openat2 refusing
//     symlinks, or resolving beneath the volume) and gives the driver
//     /proc/<agent pid>/fd/<n>, which the kernel follows to that very
//     file, whatever happens to its name afterwards. So a container that
//     swaps a directory for a symlink (CVE-2017-1002101, `ln -s /
//     vol/escape` then `subPath: escape`) cannot redirect the mount. A
//     subPath that leads out of its volume is refused.
//
// The descriptors stay open while the task they were made for may use
// them (see containerRunner.held): runc follows them while it creates a
// container, a Wasm module's preopened directories use them for every
// open.

// ReasonHostPathNotAllowed: a hostPath volume names a path the node's
// operator did not allow (Options.HostPathAllow, `--host-path-allow`).
const ReasonHostPathNotAllowed = "HostPathNotAllowed"

// heldPaths are the descriptors behind a container's pinned mounts.
type heldPaths []*os.File

func (h heldPaths) release() {
	for _, f := range h {
		_ = f.Close()
	}
}

// procPath names an open file through /proc so that another process of
// this host (runc) reaches exactly it.
func procPath(f *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
}

// allowHostPath resolves a hostPath volume's path and checks it against
// the allowlist; it returns the resolved path and the (resolved) allowed
// directory it lies in.
func (a *Agent) allowHostPath(v *api.Volume) (resolved, allowedDir string, err error) {
	p := v.HostPath.Path
	if !filepath.IsAbs(p) {
		return "", "", fmt.Errorf("hostPath %q is not an absolute path", p)
	}
	resolved, err = resolveExisting(filepath.Clean(p))
	if err != nil {
		return "", "", fmt.Errorf("hostPath %s: %w", p, err)
	}
	for _, allowed := range a.opts.HostPathAllow {
		if r, err := filepath.EvalSymlinks(allowed); err == nil {
			allowed = r
		}
		if allowed = filepath.Clean(allowed); within(resolved, allowed) {
			return resolved, allowed, nil
		}
	}
	what := p
	if resolved != filepath.Clean(p) {
		what += " (which resolves to " + resolved + ")"
	}
	allowed := "none"
	if len(a.opts.HostPathAllow) > 0 {
		allowed = strings.Join(a.opts.HostPathAllow, ", ")
	}
	return "", "", &waitError{Reason: ReasonHostPathNotAllowed, Msg: fmt.Sprintf(
		"volume %q: hostPath %s is not allowed on node %s (allowed: %s); the node's operator allows a directory with `skiff agent --host-path-allow DIR` (agent.hostPathAllow)",
		v.Name, what, a.opts.NodeName, allowed)}
}

// createHostPath makes a missing DirectoryOrCreate or FileOrCreate path,
// resolved into allowedDir by allowHostPath, through an os.Root of
// allowedDir: should a part of it have become a symlink leading out since
// it was checked, nothing is created outside. (checkHostPath then finds
// it there and checks its type.)
func createHostPath(h *api.HostPathVolumeSource, resolved, allowedDir string) error {
	if h.Type != api.HostPathDirectoryOrCreate && h.Type != api.HostPathFileOrCreate {
		return nil
	}
	if _, err := os.Lstat(resolved); err == nil {
		return nil
	}
	rel, err := filepath.Rel(allowedDir, resolved)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(allowedDir)
	if err != nil {
		return err
	}
	defer root.Close()
	if h.Type == api.HostPathDirectoryOrCreate {
		return root.MkdirAll(rel, 0o755)
	}
	f, err := root.OpenFile(rel, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// within reports whether p is dir or lies beneath it; both are clean.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// resolveExisting resolves the symlinks of p's longest existing prefix and
// appends the rest, so that a path a DirectoryOrCreate volume will create
// is judged by where it will be. A dangling symlink on the way is refused:
// creating through it would write wherever it points.
func resolveExisting(p string) (string, error) {
	rest := ""
	for cur := p; ; {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if st, lerr := os.Lstat(cur); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s is a symlink to a missing target", cur)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// mountSource returns what the driver mounts for volume mount m of volume
// v, whose set-up gave dir, pinned where it must be.
func (a *Agent) mountSource(v *api.Volume, m *api.VolumeMount, dir string) (string, heldPaths, error) {
	var held heldPaths
	base := dir
	if v.HostPath != nil {
		// checkHostPath may have created it: judge what is there now,
		// and pin it without following any symlink, so that it is what
		// was judged.
		resolved, _, err := a.allowHostPath(v)
		if err != nil {
			return "", nil, err
		}
		f, err := pinExact(resolved)
		if err != nil {
			return "", nil, &waitError{Reason: ReasonContainerCreating,
				Msg: fmt.Sprintf("MountVolume.SetUp failed for volume %q: hostPath %s: %v", v.Name, v.HostPath.Path, err)}
		}
		held = append(held, f)
		if m.SubPath == "" {
			return procPath(f), held, nil
		}
		base = procPath(f)
	}
	if m.SubPath == "" {
		return dir, nil, nil
	}
	sub := filepath.FromSlash(m.SubPath)
	if !filepath.IsLocal(sub) {
		held.release()
		return "", nil, fmt.Errorf("volume mount %q: subPath %q leaves the volume", m.Name, m.SubPath)
	}
	f, err := pinBeneath(base, sub)
	if errors.Is(err, fs.ErrNotExist) && v.EmptyDir != nil {
		// Made inside the volume whatever its contents link to.
		if err := mkdirBeneath(base, sub); err != nil {
			return "", nil, fmt.Errorf("volume mount %q: subPath %q: %w", m.Name, m.SubPath, err)
		}
		f, err = pinBeneath(base, sub)
	}
	if err != nil {
		held.release()
		return "", nil, &waitError{Reason: ReasonCreateContainerConfigErr,
			Msg: fmt.Sprintf("volume mount %q: subPath %q: %v", m.Name, m.SubPath, err)}
	}
	return procPath(f), append(held, f), nil
}

// mkdirBeneath creates sub and its parents inside dir; symlinks in the
// volume cannot make it create anything outside.
func mkdirBeneath(dir, sub string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return root.MkdirAll(sub, 0o777)
}
