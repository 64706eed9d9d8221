package edge

import (
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func cmAt(rv, mode string) api.ConfigMap {
	return api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default", ResourceVersion: rv}, Data: map[string]string{"mode": mode}}
}

// An older copy (a sync answer taken before a push) never replaces a newer
// one, and a full sync does not forget what was pushed after it was taken.
func TestConfigStoreKeepsTheNewestCopy(t *testing.T) {
	s := newConfigStore(t.TempDir())
	if changed, errs := s.Apply([]api.ConfigMap{cmAt("9", "new")}, nil, 7); !changed || len(errs) > 0 {
		t.Fatalf("Apply = %v, %v", changed, errs)
	}
	before := s.Changed()
	if changed, _ := s.Apply([]api.ConfigMap{cmAt("5", "old")}, nil, 0); changed {
		t.Error("an older revision replaced a newer one")
	}
	if changed, _ := s.Apply([]api.ConfigMap{cmAt("9", "new")}, nil, 8); changed {
		t.Error("the same copy counted as a change")
	}
	select {
	case <-before:
		t.Error("Changed fired without a change")
	default:
	}
	// A sync taken before push 7 lists nothing: the pushed copy stays.
	if changed, _ := s.Replace(nil, nil, 6); changed {
		t.Error("a sync taken before the push forgot it")
	}
	if cm, ok := s.ConfigMap("default", "settings"); !ok || cm.Data["mode"] != "new" {
		t.Fatalf("ConfigMap = %+v, %v", cm, ok)
	}
	// A sync taken after it decides.
	if changed, _ := s.Replace(nil, nil, 7); !changed {
		t.Error("a sync taken after the push did not forget it")
	}
	select {
	case <-before:
	default:
		t.Error("Changed did not fire")
	}
	// What is kept on disk comes back.
	if _, errs := s.Apply([]api.ConfigMap{cmAt("11", "kept")}, nil, 9); len(errs) > 0 {
		t.Fatal(errs)
	}
	again := newConfigStore(s.dir)
	if errs := again.Load(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if cm, ok := again.ConfigMap("default", "settings"); !ok || cm.Data["mode"] != "kept" {
		t.Errorf("loaded ConfigMap = %+v, %v", cm, ok)
	}
}

func TestExpandVars(t *testing.T) {
	lookup := func(n string) (string, bool) {
		v, ok := map[string]string{"A": "1", "B": "two"}[n]
		return v, ok
	}
	for give, want := range map[string]string{
		"plain": "plain", "$(A)": "1", "x$(A)y$(B)z": "x1ytwoz", "$(C)": "$(C)", "$$(A)": "$(A)",
		"$$": "$", "cost $5": "cost $5", "$(A": "$(A", "end$": "end$",
	} {
		if got := expandVars(give, lookup); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", give, got, want)
		}
	}
}
