package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// Volumes live under the pod's directory, pods/<uid>/volumes/<name>, and go
// with it: an emptyDir is an empty directory there, a configMap or secret
// volume a directory of files written from the ConfigMap's or Secret's keys
// (each file replaced atomically when the object changes; a file whose key
// is gone is removed), a hostPath the node's own path. A container gets
// them as runtimes.Mounts: bind mounts for containers, preopened
// directories for Wasm modules.

const volumesDir = "volumes"

// waitError is a problem the agent waits out, retrying with back-off and
// whenever a ConfigMap or Secret arrives: Reason is the container's
// waiting reason.
type waitError struct {
	Reason string
	Msg    string
}

func (e *waitError) Error() string { return e.Msg }

func (s *localStore) volumeDir(uid, volume string) string {
	return filepath.Join(s.dir, uid, volumesDir, volume)
}

// mounts sets up the volumes the container mounts and returns its mounts,
// and the descriptors that pin hostPaths and subPaths (see hostpaths.go),
// which the caller releases once the task no longer needs them. Set-up is
// serialized per pod, as several containers may share a volume.
func (w *podWorker) mounts(pod *api.Pod, c *api.Container) (_ []runtimes.Mount, held heldPaths, err error) {
	if len(c.VolumeMounts) == 0 {
		return nil, nil, nil
	}
	w.volMu.Lock()
	defer w.volMu.Unlock()
	defer func() {
		if err != nil {
			held.release()
			held = nil
		}
	}()
	var out []runtimes.Mount
	for _, m := range c.VolumeMounts {
		v := findVolume(pod, m.Name)
		if v == nil {
			return nil, held, fmt.Errorf("volume mount %q: the pod has no such volume", m.Name)
		}
		if v.HostPath != nil {
			// Before set-up, which may create the path: created here, in
			// the allowed directory only.
			resolved, allowedDir, err := w.a.allowHostPath(v)
			if err != nil {
				return nil, held, err
			}
			if err := createHostPath(v.HostPath, resolved, allowedDir); err != nil {
				return nil, held, &waitError{Reason: ReasonContainerCreating, Msg: fmt.Sprintf("MountVolume.SetUp failed for volume %q: hostPath %s: %v", v.Name, v.HostPath.Path, err)}
			}
		}
		dir, err := w.a.setUpVolume(pod, v)
		if err != nil {
			return nil, held, &waitError{Reason: ReasonContainerCreating, Msg: fmt.Sprintf("MountVolume.SetUp failed for volume %q: %v", v.Name, err)}
		}
		host, pins, err := w.a.mountSource(v, &m, dir)
		held = append(held, pins...)
		if err != nil {
			return nil, held, err
		}
		ro := m.ReadOnly || v.ConfigMap != nil || v.Secret != nil
		out = append(out, runtimes.Mount{HostPath: host, GuestPath: m.MountPath, ReadOnly: ro})
	}
	return out, held, nil
}

// refreshConfigVolumes rewrites the pod's configMap and secret volumes
// that were set up, after a ConfigMap or Secret changed. A volume whose
// object went away keeps its files, as in Kubernetes.
func (w *podWorker) refreshConfigVolumes(pod *api.Pod) {
	w.volMu.Lock()
	defer w.volMu.Unlock()
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap == nil && v.Secret == nil {
			continue
		}
		if _, err := os.Stat(w.a.local.volumeDir(pod.UID, v.Name)); err != nil {
			continue // not set up yet: the container that mounts it will
		}
		if _, err := w.a.setUpVolume(pod, v); err != nil {
			w.log.Debug("volume not refreshed", "volume", v.Name, "err", err)
		}
	}
}

func findVolume(pod *api.Pod, name string) *api.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// setUpVolume makes the volume ready and returns its host path.
func (a *Agent) setUpVolume(pod *api.Pod, v *api.Volume) (string, error) {
	if err := api.ValidateName(v.Name); err != nil {
		return "", fmt.Errorf("volume name: %w", err)
	}
	dir := a.local.volumeDir(pod.UID, v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", err
		}
		// Any container user may write, as with the kubelet's emptyDir.
		return dir, os.Chmod(dir, 0o777)
	case v.HostPath != nil:
		return v.HostPath.Path, checkHostPath(v.HostPath)
	case v.ConfigMap != nil:
		src := v.ConfigMap
		cm, ok := a.configs.ConfigMap(pod.Namespace, src.Name)
		if !ok && !api.IsOptional(src.Optional) {
			return "", fmt.Errorf("configmap %q not found", src.Name)
		}
		var values map[string][]byte
		if ok {
			values = cm.ConfigMapValues()
		}
		files, err := keyFiles(values, src.Items, src.DefaultMode, api.IsOptional(src.Optional), "configmap", src.Name)
		if err != nil {
			return "", err
		}
		return dir, syncVolumeFiles(dir, files)
	case v.Secret != nil:
		src := v.Secret
		sec, ok := a.configs.Secret(pod.Namespace, src.SecretName)
		if !ok && !api.IsOptional(src.Optional) {
			return "", fmt.Errorf("secret %q not found", src.SecretName)
		}
		var values map[string][]byte
		if ok {
			values = sec.SecretValues()
		}
		files, err := keyFiles(values, src.Items, src.DefaultMode, api.IsOptional(src.Optional), "secret", src.SecretName)
		if err != nil {
			return "", err
		}
		if err := a.secretVolumes.prepare(dir); err != nil { // tmpfs: secretvolume.go
			return "", err
		}
		return dir, syncVolumeFiles(dir, files)
	}
	return "", errors.New("the volume has no source the agent knows")
}

// checkHostPath applies the hostPath volume's type.
func checkHostPath(h *api.HostPathVolumeSource) error {
	if !filepath.IsAbs(h.Path) {
		return fmt.Errorf("hostPath %q is not an absolute path", h.Path)
	}
	st, err := os.Stat(h.Path)
	exists := err == nil
	want := func(ok bool, what string) error {
		if !exists {
			return fmt.Errorf("hostPath type check failed: %s does not exist (type %s)", h.Path, h.Type)
		}
		if !ok {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", h.Path, what)
		}
		return nil
	}
	switch h.Type {
	case api.HostPathUnset:
		return nil
	case api.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(h.Path, 0o755)
		}
		return want(st.IsDir(), "directory")
	case api.HostPathDirectory:
		return want(exists && st.IsDir(), "directory")
	case api.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return want(st.Mode().IsRegular(), "file")
	case api.HostPathFile:
		return want(exists && st.Mode().IsRegular(), "file")
	case api.HostPathSocket:
		return want(exists && st.Mode()&fs.ModeSocket != 0, "socket")
	case api.HostPathCharDevice:
		return want(exists && st.Mode()&fs.ModeCharDevice != 0, "character device")
	case api.HostPathBlockDevice:
		return want(exists && st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0, "block device")
	}
	return fmt.Errorf("hostPath type %q is not one the agent knows", h.Type)
}

// volumeFile is one file of a configMap or secret volume.
type volumeFile struct {
	data []byte
	mode os.FileMode
}

// keyFiles maps the object's keys (or the items) to files.
func keyFiles(values map[string][]byte, items []api.KeyToPath, defaultMode *int32, optional bool, kind, name string) (map[string]volumeFile, error) {
	mode := os.FileMode(api.DefaultVolumeMode)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & 0o777
	}
	files := map[string]volumeFile{}
	if len(items) == 0 {
		for k, v := range values {
			if !filepath.IsLocal(k) || filepath.Base(k) != k {
				continue // not a plain file name; the API refuses such keys
			}
			files[k] = volumeFile{data: v, mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := values[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		p := filepath.FromSlash(it.Path)
		if !filepath.IsLocal(p) {
			return nil, fmt.Errorf("item path %q leaves the volume", it.Path)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode) & 0o777
		}
		files[p] = volumeFile{data: v, mode: m}
	}
	return files, nil
}

// syncVolumeFiles makes dir hold exactly files: changed ones are replaced
// atomically (temp file and rename), unchanged ones left alone, others
// removed.
func syncVolumeFiles(dir string, files map[string]volumeFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		path := filepath.Join(dir, n)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			if st, err := os.Stat(path); err == nil && st.Mode().Perm() == f.mode {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), f.mode)); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
	}
	// Remove files whose key is gone (and leftover temp files).
	var stale []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if _, keep := files[rel]; !keep {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
