package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/skiff-sh/skiff/api"
)

// configStore keeps the ConfigMaps and Secrets the node's pods reference,
// as the control plane last sent them, in memory and under
// DataDir/configs (one file each, mode 0600), so that pods get their
// configMap and secret volumes and env after a restart without a control
// plane. A push adds or replaces objects; a full sync replaces the set.
type configStore struct {
	dir string

	mu      sync.Mutex
	cms     map[string]*api.ConfigMap // namespace/name
	secrets map[string]*api.Secret
	pushed  map[string]uint64 // kind/namespace/name → push sequence that last set it
	epoch   chan struct{}     // closed and replaced whenever anything changes
}

func newConfigStore(dir string) *configStore {
	return &configStore{
		dir: dir, cms: map[string]*api.ConfigMap{}, secrets: map[string]*api.Secret{},
		pushed: map[string]uint64{}, epoch: make(chan struct{}),
	}
}

const (
	cmFilePrefix     = "configmap."
	secretFilePrefix = "secret."
)

// fileName is the object's file: <kind>.<namespace>.<name>.json (names are
// DNS labels, so the dots are unambiguous).
func configFile(prefix, ns, name string) (string, error) {
	if err := api.ValidateName(ns); err != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	if err := api.ValidateName(name); err != nil {
		return "", fmt.Errorf("name: %w", err)
	}
	return prefix + ns + "." + name + ".json", nil
}

// Load reads what an earlier agent process kept. Unreadable files are
// reported and skipped.
func (s *configStore) Load() []error {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("read %s: %w", s.dir, err)}
	}
	var errs []error
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case strings.HasPrefix(name, cmFilePrefix):
			var cm api.ConfigMap
			if err := json.Unmarshal(b, &cm); err != nil {
				errs = append(errs, fmt.Errorf("read %s: %w", name, err))
				continue
			}
			s.cms[cm.Namespace+"/"+cm.Name] = &cm
		case strings.HasPrefix(name, secretFilePrefix):
			var sec api.Secret
			if err := json.Unmarshal(b, &sec); err != nil {
				errs = append(errs, fmt.Errorf("read %s: %w", name, err))
				continue
			}
			s.secrets[sec.Namespace+"/"+sec.Name] = &sec
		}
	}
	return errs
}

// ConfigMap returns the ConfigMap namespace/name, if the node has it.
func (s *configStore) ConfigMap(ns, name string) (*api.ConfigMap, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm, ok := s.cms[ns+"/"+name]
	return cm, ok
}

// Secret returns the Secret namespace/name, if the node has it.
func (s *configStore) Secret(ns, name string) (*api.Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[ns+"/"+name]
	return sec, ok
}

// Changed returns a channel closed at the next change.
func (s *configStore) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// newer reports whether incoming should replace cur: a later (or
// unknown) revision with different content.
func newer(incoming, cur api.Object, same bool) bool {
	if cur == nil {
		return true
	}
	a, err1 := strconv.ParseUint(incoming.GetObjectMeta().ResourceVersion, 10, 64)
	b, err2 := strconv.ParseUint(cur.GetObjectMeta().ResourceVersion, 10, 64)
	if err1 == nil && err2 == nil && a < b {
		return false
	}
	return !same
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Apply adds or replaces the objects (from a push with sequence seq, or a
// sync with seq 0) and reports whether anything changed.
func (s *configStore) Apply(cms []api.ConfigMap, secs []api.Secret, seq uint64) (bool, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	var errs []error
	for i := range cms {
		cm := &cms[i]
		key := cm.Namespace + "/" + cm.Name
		cur := s.cms[key]
		var curObj api.Object
		if cur != nil {
			curObj = cur
		}
		if !newer(cm, curObj, cur != nil && jsonEqual(cm, cur)) {
			continue
		}
		if err := s.saveLocked(cmFilePrefix, cm.Namespace, cm.Name, cm); err != nil {
			errs = append(errs, err)
			continue
		}
		s.cms[key] = cm
		if seq > 0 {
			s.pushed["cm/"+key] = seq
		}
		changed = true
	}
	for i := range secs {
		sec := &secs[i]
		key := sec.Namespace + "/" + sec.Name
		cur := s.secrets[key]
		var curObj api.Object
		if cur != nil {
			curObj = cur
		}
		if !newer(sec, curObj, cur != nil && jsonEqual(sec, cur)) {
			continue
		}
		if err := s.saveLocked(secretFilePrefix, sec.Namespace, sec.Name, sec); err != nil {
			errs = append(errs, err)
			continue
		}
		s.secrets[key] = sec
		if seq > 0 {
			s.pushed["secret/"+key] = seq
		}
		changed = true
	}
	if changed {
		s.bumpLocked()
	}
	return changed, errs
}

// Replace makes the given objects the whole set (a full sync taken after
// push startSeq): others are forgotten, unless pushed after startSeq.
func (s *configStore) Replace(cms []api.ConfigMap, secs []api.Secret, startSeq uint64) (bool, []error) {
	changed, errs := s.Apply(cms, secs, 0)
	keepCM, keepSec := map[string]bool{}, map[string]bool{}
	for _, cm := range cms {
		keepCM[cm.Namespace+"/"+cm.Name] = true
	}
	for _, sec := range secs {
		keepSec[sec.Namespace+"/"+sec.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := false
	for key, cm := range s.cms {
		if keepCM[key] || s.pushed["cm/"+key] > startSeq {
			continue
		}
		if err := s.removeLocked(cmFilePrefix, cm.Namespace, cm.Name); err != nil {
			errs = append(errs, err)
		}
		delete(s.cms, key)
		delete(s.pushed, "cm/"+key)
		removed = true
	}
	for key, sec := range s.secrets {
		if keepSec[key] || s.pushed["secret/"+key] > startSeq {
			continue
		}
		if err := s.removeLocked(secretFilePrefix, sec.Namespace, sec.Name); err != nil {
			errs = append(errs, err)
		}
		delete(s.secrets, key)
		delete(s.pushed, "secret/"+key)
		removed = true
	}
	if removed {
		s.bumpLocked()
	}
	return changed || removed, errs
}

func (s *configStore) bumpLocked() {
	close(s.epoch)
	s.epoch = make(chan struct{})
}

func (s *configStore) saveLocked(prefix, ns, name string, obj any) error {
	file, err := configFile(prefix, ns, name)
	if err != nil {
		return fmt.Errorf("keep %s%s/%s: %w", prefix, ns, name, err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("keep %s%s/%s: %w", prefix, ns, name, err)
	}
	// writeFileAtomic's temp file is 0600, and so the file.
	if err := writeFileAtomic(filepath.Join(s.dir, file), b); err != nil {
		return fmt.Errorf("keep %s%s/%s: %w", prefix, ns, name, err)
	}
	return nil
}

func (s *configStore) removeLocked(prefix, ns, name string) error {
	file, err := configFile(prefix, ns, name)
	if err != nil {
		return nil // never saved
	}
	if err := os.Remove(filepath.Join(s.dir, file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget %s%s/%s: %w", prefix, ns, name, err)
	}
	return nil
}
