package api_test

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func TestJoinTokenRoundTripsAndBadOnesSayWhy(t *testing.T) {
	var fp [32]byte
	for i := range fp {
		fp[i] = byte(i)
	}
	seed := "SA" + strings.Repeat("B", 56)
	acct := "A" + strings.Repeat("C", 55)
	tok := api.JoinToken{CAFingerprint: fp, Account: acct, Secret: seed}
	got, err := api.ParseJoinToken(" " + tok.String() + "\n")
	if err != nil || got != tok {
		t.Fatalf("ParseJoinToken(String()) = %+v, %v; want %+v", got, err, tok)
	}
	hexFP := tok.String()[len("skf1::") : len("skf1::")+64]
	tests := []struct{ give, want string }{
		{"", "want skf1::"},
		{"K10abc::server:secret", "want skf1::"},
		{"skf1::zz::" + acct + "." + seed, "not 64 hex digits"},
		{"skf1::" + hexFP[:62] + "::" + acct + "." + seed, "not 64 hex digits"},
		{"skf1::" + hexFP + "::" + seed, "join account key"},
		{"skf1::" + hexFP + "::" + acct + ".SUABC", "not a join key"},
		{"skf1::" + hexFP + "::" + acct + "." + seed + "::x", "want skf1::"},
	}
	for _, tt := range tests {
		if _, err := api.ParseJoinToken(tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseJoinToken(%q) = %v; want an error saying %q", tt.give, err, tt.want)
		}
	}
}

func TestAgentOwnsOnlyItsWellKnownLabelsAndItsPrefix(t *testing.T) {
	for key, want := range map[string]bool{
		api.LabelArch: true, api.LabelOS: true, api.LabelHostname: true,
		api.AgentLabelPrefix + "gpu": true, api.AgentLabelPrefix: false,
		"site": false, "node-role.kubernetes.io/control-plane": false, "agent.skiff.sh": false,
	} {
		if got := api.AgentOwnsLabel(key); got != want {
			t.Errorf("AgentOwnsLabel(%q) = %v, want %v", key, got, want)
		}
	}
}
