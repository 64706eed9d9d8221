package wasm

import "testing"

func TestDownwardTargetAcceptsOnlyRelativeTargetsWithoutDotDot(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"file", true},
		{"sub/file", true},
		{"./sub/./file", true},
		{".", true},
		{"a..b", true},
		{"", false},
		{"..", false},
		{"../file", false},
		{"sub/../file", false}, // resolved after a symlink at sub, this can climb
		{"sub/..", false},
		{"/etc/passwd", false},
		{"/", false},
		{`..\file`, false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		if got := downwardTarget(tt.give); got != tt.want {
			t.Errorf("downwardTarget(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestRelMakesWazeroPathsRelativeToTheMount(t *testing.T) {
	tests := []struct{ give, want string }{
		{"", "."},
		{".", "."},
		{"/", "."},
		{"/sub", "sub"},
		{"//sub/x", "sub/x"},
		{"sub/x/", "sub/x/"},
	}
	for _, tt := range tests {
		if got := rel(tt.give); got != tt.want {
			t.Errorf("rel(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
