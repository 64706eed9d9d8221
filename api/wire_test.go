package api_test

import (
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// The control plane answers a node's request only in that node's inbox.
func TestAgentReplyAllowedOnlyInTheNodesOwnInbox(t *testing.T) {
	for _, tt := range []struct {
		subject, reply string
		want           bool
	}{
		{"skiff.agent.pi-1.sync", "", true},
		{"skiff.agent.pi-1.sync", "_INBOX_pi-1.abc.1", true},
		{"skiff.agent.pi-1.sync", "_INBOX_pi-1", false},
		{"skiff.agent.pi-1.sync", "_INBOX_pi-10.abc", false},
		{"skiff.agent.pi-1.sync", "_INBOX_pi-2.abc", false},
		{"skiff.agent.pi-1.sync", "_INBOX.abc", false},
		{"skiff.agent.pi-1.lease", "$KV.skiff-objects.secrets.default.db", false},
		{"skiff.agent.pi-1.status", "$JS.API.STREAM.PURGE.KV_skiff-objects", false},
		{"skiff.agent.pi-1.register", "skiff.node.pi-2.pods", false},
		{"skiff.agent", "_INBOX_.x", false},
	} {
		if got := api.AgentReplyAllowed(tt.subject, tt.reply); got != tt.want {
			t.Errorf("AgentReplyAllowed(%q, %q) = %v, want %v", tt.subject, tt.reply, got, tt.want)
		}
	}
}
