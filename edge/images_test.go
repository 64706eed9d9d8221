package edge

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

func TestClassifyStartError(t *testing.T) {
	tests := []struct {
		give       error
		wasm       bool
		wantKind   startFailure
		wantReason string
	}{
		{give: fmt.Errorf("%w: x is not in the store", runtimes.ErrImageNotFound), wantKind: startPull, wantReason: ReasonErrImagePull},
		{give: fmt.Errorf("%w: built for linux/arm64; node runs linux/amd64", runtimes.ErrImagePlatform), wantKind: startPull, wantReason: ReasonErrImagePull},
		{give: fmt.Errorf("%w: bad layer", runtimes.ErrInvalidImage), wantKind: startInvalid, wantReason: ReasonInvalidImage},
		{give: fmt.Errorf("%w: bad magic", runtimes.ErrInvalidImage), wasm: true, wantKind: startInvalid, wantReason: ReasonInvalidModule},
		{give: fmt.Errorf("%w: /nope", runtimes.ErrCommandNotFound), wantKind: startCannotRun, wantReason: ReasonContainerCannotRun},
		{give: fmt.Errorf("%w: no _start", runtimes.ErrCommandNotFound), wasm: true, wantKind: startCannotRun, wantReason: ReasonContainerCannotRun},
		{give: errors.New("containerd is down"), wantKind: startRetry, wantReason: ReasonCreateContainerErr},
	}
	for _, tt := range tests {
		kind, reason := classifyStartError(tt.give, tt.wasm)
		if kind != tt.wantKind || reason != tt.wantReason {
			t.Errorf("classifyStartError(%v, wasm=%v) = %v %s, want %v %s", tt.give, tt.wasm, kind, reason, tt.wantKind, tt.wantReason)
		}
	}
}

// A missing image is ErrImagePull with the driver's message, then
// ImagePullBackOff; the pod stays Pending (even with restartPolicy Never)
// and starts once the image is there.
func TestMissingImageIsErrImagePullThenImagePullBackOffUntilItArrives(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	var imported atomic.Bool
	d.beforeStart = func(cfg *runtimes.TaskConfig) error {
		if !imported.Load() {
			return fmt.Errorf("%w: %s is not in containerd's image store", runtimes.ErrImageNotFound, cfg.Image)
		}
		return nil
	}
	e.startAgent(d)
	uid := "uid-pull"
	e.cp.pushPod(testPod("pull", uid, api.RestartPolicyNever))

	first := e.cp.waitReport(t, uid, "ErrImagePull", waitingReason(ReasonErrImagePull))
	w := first.Status.ContainerStatuses[0].State.Waiting
	if !strings.Contains(w.Message, "registry.example/app:1 is not in containerd's image store") {
		t.Errorf("ErrImagePull message %q does not carry the driver's", w.Message)
	}
	if first.Status.Phase != api.PodPending {
		t.Errorf("phase %s, want Pending", first.Status.Phase)
	}
	backoff := e.cp.waitReport(t, uid, "ImagePullBackOff", waitingReason(ReasonImagePullBackOff))
	if backoff.Status.Phase != api.PodPending {
		t.Errorf("phase %s during ImagePullBackOff, want Pending", backoff.Status.Phase)
	}
	imported.Store(true)
	e.cp.waitReport(t, uid, "Running once the image is there", phaseIs(api.PodRunning))
}

// A command that cannot be run ends the container with ContainerCannotRun
// and exit code 128: Never fails the pod, Always restarts it with
// CrashLoopBackOff.
func TestCommandThatCannotRunIsContainerCannotRun(t *testing.T) {
	for _, policy := range []api.RestartPolicy{api.RestartPolicyNever, api.RestartPolicyAlways} {
		t.Run(string(policy), func(t *testing.T) {
			e := newEnv(t)
			d := newFakeDriver("containerd")
			d.beforeStart = func(*runtimes.TaskConfig) error {
				return fmt.Errorf("%w: exec: \"/nope\": no such file or directory", runtimes.ErrCommandNotFound)
			}
			e.startAgent(d)
			uid := "uid-cannot-run"
			e.cp.pushPod(testPod("cannot-run", uid, policy))

			if policy == api.RestartPolicyNever {
				r := e.cp.waitReport(t, uid, "Failed", phaseIs(api.PodFailed))
				term := r.Status.ContainerStatuses[0].State.Terminated
				if term == nil || term.Reason != ReasonContainerCannotRun || term.ExitCode != 128 || !strings.Contains(term.Message, "/nope") {
					t.Fatalf("terminated %+v, want ContainerCannotRun, exit 128, the driver's message", term)
				}
				return
			}
			r := e.cp.waitReport(t, uid, "CrashLoopBackOff after restarts", func(r api.PodStatusReport) bool {
				return waitingReason(ReasonCrashLoopBackOff)(r) && r.Status.ContainerStatuses[0].RestartCount >= 2
			})
			last := r.Status.ContainerStatuses[0].LastState.Terminated
			if last == nil || last.Reason != ReasonContainerCannotRun || last.ExitCode != 128 {
				t.Fatalf("last state %+v, want ContainerCannotRun with exit 128", last)
			}
		})
	}
}
