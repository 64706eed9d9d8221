package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/internal/atomicfile"
	"github.com/skiff-sh/skiff/runtimes"
)

// localStore keeps the node's pods on disk, one directory per pod UID, so
// that the node runs its pods without a control plane and after a restart.
type localStore struct {
	dir string // DataDir/pods
}

const (
	podFile   = "pod.json"
	stateFile = "state.json"
	logsDir   = "logs"
)

// podState is what the agent remembers of a pod besides its spec.
type podState struct {
	// StartTime is when the agent first accepted the pod.
	StartTime *time.Time `json:"startTime,omitempty"`
	// Failure, when set, failed the whole pod for good (DeadlineExceeded).
	Failure *podFailure `json:"failure,omitempty"`
	// Containers by name.
	Containers map[string]*containerRecord `json:"containers,omitempty"`
}

type podFailure struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// containerRecord is what the agent knows of one container.
type containerRecord struct {
	RestartCount int32              `json:"restartCount"`
	State        api.ContainerState `json:"state,omitzero"`
	LastState    api.ContainerState `json:"lastState,omitzero"`
	// Handle is set while a task runs, so a restarted agent can Recover it.
	Handle *runtimes.TaskHandle `json:"handle,omitempty"`
	// Done says the container will not run again under the pod's restart
	// policy (it completed, or failed with restartPolicy Never).
	Done        bool   `json:"done,omitempty"`
	ImageID     string `json:"imageID,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

func (r *containerRecord) clone() *containerRecord {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// localPod is one pod read back from disk.
type localPod struct {
	Pod   *api.Pod
	State *podState
}

// validUID reports whether uid can name a directory: the UID comes from the
// network, so it must never climb out of the pods directory.
func validUID(uid string) error {
	if uid == "" {
		return errors.New("metadata.uid: required")
	}
	if len(uid) > 128 || uid == "." || uid == ".." {
		return fmt.Errorf("metadata.uid: %q is not a UID", uid)
	}
	for _, c := range uid {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("metadata.uid: %q is not a UID (letters, digits, '-', '_' and '.' only)", uid)
		}
	}
	return nil
}

func (s *localStore) podDir(uid string) string { return filepath.Join(s.dir, uid) }

// logPath is where a container's output goes.
func (s *localStore) logPath(uid, container string) string {
	return filepath.Join(s.dir, uid, logsDir, container+".log")
}

// SavePod writes the desired pod durably, creating the pod's directory.
func (s *localStore) SavePod(p *api.Pod) error {
	if err := validUID(p.UID); err != nil {
		return err
	}
	dir := s.podDir(p.UID)
	if err := os.MkdirAll(filepath.Join(dir, logsDir), 0o750); err != nil {
		return fmt.Errorf("save pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("save pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, podFile), b); err != nil {
		return fmt.Errorf("save pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// SaveState writes what the agent knows of a pod's containers.
func (s *localStore) SaveState(uid string, st *podState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save state of pod %s: %w", uid, err)
	}
	if err := writeFileAtomic(filepath.Join(s.podDir(uid), stateFile), b); err != nil {
		return fmt.Errorf("save state of pod %s: %w", uid, err)
	}
	return nil
}

// Forget deletes everything the node keeps for a pod.
func (s *localStore) Forget(uid string) error {
	if err := validUID(uid); err != nil {
		return err
	}
	// Secret volumes' tmpfs mounts go first, or RemoveAll stops at them.
	uerr := unmountUnder(s.podDir(uid))
	if err := errors.Join(uerr, os.RemoveAll(s.podDir(uid))); err != nil {
		return fmt.Errorf("forget pod %s: %w", uid, err)
	}
	return syncDir(s.dir)
}

// Load reads every pod kept on disk. A pod directory that cannot be read
// is reported in errs and skipped; it never stops the others.
func (s *localStore) Load() (pods []localPod, errs []error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("read %s: %w", s.dir, err)}
	}
	for _, e := range entries {
		if !e.IsDir() || validUID(e.Name()) != nil {
			continue
		}
		dir := filepath.Join(s.dir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, podFile))
		if errors.Is(err, os.ErrNotExist) {
			// Created but never written (crash between mkdir and
			// rename): nothing was acted on, so nothing to keep.
			_ = unmountUnder(dir)
			_ = os.RemoveAll(dir)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", dir, err))
			continue
		}
		var p api.Pod
		if err := json.Unmarshal(b, &p); err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", filepath.Join(dir, podFile), err))
			continue
		}
		if p.UID != e.Name() {
			errs = append(errs, fmt.Errorf("read %s: pod uid %q does not match its directory", dir, p.UID))
			continue
		}
		st := &podState{}
		if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
			if err := json.Unmarshal(b, st); err != nil {
				errs = append(errs, fmt.Errorf("read %s (starting the pod afresh): %w", filepath.Join(dir, stateFile), err))
				st = &podState{}
			}
		}
		pods = append(pods, localPod{Pod: &p, State: st})
	}
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i].Pod, pods[j].Pod
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return pods, errs
}

// writeFileAtomic writes data to path so that a reader (or a reboot) sees
// the old content or the new, never a part: temp file, fsync, rename, fsync
// of the directory.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
