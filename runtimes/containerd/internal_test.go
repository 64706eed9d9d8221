package containerd

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/runtimes"
)

func TestContainerIDIsTheTaskIDWhenValidElseAReadableHash(t *testing.T) {
	long := strings.Repeat("a", 80)
	tests := []struct {
		give       string
		wantSame   bool
		wantPrefix string
	}{
		{give: "0f8e9c1a-web-0", wantSame: true},
		{give: "a.b_c-d", wantSame: true},
		{give: "default/hello/main", wantPrefix: "default-hello-main-"},
		{give: "-leading", wantPrefix: "leading-"},
		{give: long, wantPrefix: strings.Repeat("a", 59) + "-"},
		{give: "///", wantPrefix: "task-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := containerID(tt.give)
		if err := identifiers.Validate(got); err != nil {
			t.Errorf("containerID(%q) = %q, not a valid identifier: %v", tt.give, got, err)
		}
		if tt.wantSame && got != tt.give {
			t.Errorf("containerID(%q) = %q, want it unchanged", tt.give, got)
		}
		if tt.wantPrefix != "" && !strings.HasPrefix(got, tt.wantPrefix) {
			t.Errorf("containerID(%q) = %q, want prefix %q", tt.give, got, tt.wantPrefix)
		}
		if got != containerID(tt.give) {
			t.Errorf("containerID(%q) is not deterministic", tt.give)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("task IDs %q and %q share container ID %q", other, tt.give, got)
		}
		seen[got] = tt.give
	}
	if containerID("a/b") == containerID("a-b/") {
		t.Error("distinct task IDs that read alike share a container ID")
	}
}

func TestProcessArgsFollowKubernetes(t *testing.T) {
	ic := ocispec.ImageConfig{Entrypoint: []string{"/ep", "x"}, Cmd: []string{"c1", "c2"}}
	tests := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"neither", nil, nil, []string{"/ep", "x", "c1", "c2"}},
		{"args replace cmd", nil, []string{"a"}, []string{"/ep", "x", "a"}},
		{"command drops entrypoint and cmd", []string{"/bin/true"}, nil, []string{"/bin/true"}},
		{"command and args", []string{"/bin/echo"}, []string{"a", "b"}, []string{"/bin/echo", "a", "b"}},
	}
	for _, tt := range tests {
		got, err := processArgs(ic, &runtimes.TaskConfig{Command: tt.command, Args: tt.args})
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := processArgs(ocispec.ImageConfig{}, &runtimes.TaskConfig{Image: "img"}); err == nil ||
		!strings.Contains(err.Error(), "no command") {
		t.Errorf("no command anywhere: err %v, want ErrCommandNotFound saying so", err)
	}
}

func TestExitResultReasons(t *testing.T) {
	at := time.Now()
	tests := []struct {
		name              string
		code              int
		oom, stopped      bool
		wantReason        string
		wantSignal        int
		wantOOM, wantGood bool
	}{
		{"zero", 0, false, false, runtimes.ReasonCompleted, 0, false, true},
		{"zero after stop", 0, false, true, runtimes.ReasonCompleted, 0, false, true},
		{"error", 3, false, false, runtimes.ReasonError, 0, false, false},
		{"stopped by SIGKILL", 137, false, true, runtimes.ReasonStopped, 9, false, false},
		{"stopped, own exit code", 2, false, true, runtimes.ReasonStopped, 0, false, false},
		{"oom", 137, true, false, runtimes.ReasonOOMKilled, 9, true, false},
		{"oom wins over stop", 137, true, true, runtimes.ReasonOOMKilled, 9, true, false},
		{"killed by someone else", 137, false, false, runtimes.ReasonError, 0, false, false},
	}
	for _, tt := range tests {
		res := exitResult(tt.code, at, tt.oom, tt.stopped, 1<<20)
		if res.Reason != tt.wantReason || res.Signal != tt.wantSignal || res.OOMKilled != tt.wantOOM ||
			res.Successful() != tt.wantGood || res.ExitCode != tt.code || !res.FinishedAt.Equal(at) {
			t.Errorf("%s: got %+v", tt.name, res)
		}
	}
}

func TestShellQuoteSurvivesTheShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, give := range []string{"/plain/path.log", "/with space/x.log", "/it's/a $HOME `x` \"q\".log", ""} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(give)).Output()
		if err != nil || string(out) != give {
			t.Errorf("shell read %q back as %q (%v)", give, out, err)
		}
	}
}
