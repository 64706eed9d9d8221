package edge

import (
	"errors"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
)

// ReasonContainerCannotRun is the terminated reason of a container whose
// command could not be run at all (not in the image, not executable, no
// _start in a Wasm module), as Docker-era kubelets reported it.
const ReasonContainerCannotRun = "ContainerCannotRun"

// exitCodeCannotRun is the exit code reported with ReasonContainerCannotRun:
// the process never ran, and 128 is what runtimes report for a failed exec.
const exitCodeCannotRun = 128

// startFailure is how the agent treats a task the driver refused to start.
type startFailure int

const (
	// startRetry: something went wrong on the node (CreateContainerError);
	// tried again with back-off.
	startRetry startFailure = iota
	// startPull: the image is not on the node, or not for its platform
	// (ErrImagePull, then ImagePullBackOff); tried again with back-off
	// whatever the restart policy, as the kubelet retries pulls, so that
	// an image imported later is picked up.
	startPull
	// startInvalid: the image or module cannot be loaded (InvalidImage,
	// InvalidModule); a pod with restartPolicy Never fails, others retry.
	startInvalid
	// startCannotRun: the command cannot be run; counted as an exit with
	// code 128 and reason ContainerCannotRun, so the restart policy
	// decides (Never fails the pod, the others restart it with
	// CrashLoopBackOff).
	startCannotRun
)

// classifyStartError names a refused start.
func classifyStartError(err error, wasm bool) (startFailure, string) {
	switch {
	case errors.Is(err, runtimes.ErrImageNotFound), errors.Is(err, runtimes.ErrImagePlatform):
		return startPull, ReasonErrImagePull
	case errors.Is(err, runtimes.ErrInvalidImage) && wasm:
		return startInvalid, ReasonInvalidModule
	case errors.Is(err, runtimes.ErrInvalidImage):
		return startInvalid, ReasonInvalidImage
	case errors.Is(err, runtimes.ErrCommandNotFound):
		return startCannotRun, ReasonContainerCannotRun
	}
	return startRetry, ReasonCreateContainerErr
}

// pullFailed shows a failed image pull (ErrImagePull the first time,
// ImagePullBackOff after that, with the driver's message) and waits out
// the back-off. It reports whether the runner should try again.
func (r *containerRunner) pullFailed(err error) bool {
	r.pullFailures++
	reason := ReasonErrImagePull
	if r.pullFailures > 1 {
		reason = ReasonImagePullBackOff
	}
	r.log.Warn("image pull failed", "image", r.c.Image, "attempt", r.pullFailures, "err", err)
	r.setWaiting(reason, err.Error())
	return sleepCtx(r.ctx, r.backoff(r.pullFailures))
}

// cannotRun is the exit result of a task whose command could not be run.
func cannotRun(err error) *runtimes.ExitResult {
	return &runtimes.ExitResult{
		ExitCode:   exitCodeCannotRun,
		Reason:     ReasonContainerCannotRun,
		Message:    err.Error(),
		FinishedAt: time.Now(),
	}
}
