package edge

import (
	"errors"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
)

// prepare resolves what a container needs besides its image before it
// starts: its environment and its volumes. The descriptors pinning the
// mounts of the previous attempt, whose task is gone, are released.
func (r *containerRunner) prepare() ([]runtimes.EnvVar, []runtimes.Mount, error) {
	r.releaseHeld()
	env, err := r.a.containerEnv(r.pod, &r.c)
	if err != nil {
		return nil, nil, err
	}
	mounts, held, err := r.w.mounts(r.pod, &r.c)
	if err != nil {
		return nil, nil, err
	}
	r.held = held
	return env, mounts, nil
}

// releaseHeld closes the descriptors behind the mounts of the runner's
// last start.
func (r *containerRunner) releaseHeld() {
	r.held.release()
	r.held = nil
}

// waitForConfig shows why the container cannot start yet and waits for
// the back-off or for a ConfigMap or Secret to arrive, whichever comes
// first. It reports whether the runner should try again.
func (r *containerRunner) waitForConfig(err error) bool {
	reason, msg := ReasonCreateContainerConfigErr, err.Error()
	var we *waitError
	if errors.As(err, &we) {
		reason, msg = we.Reason, we.Msg
	}
	r.configWaits++
	if r.configWaits == 1 {
		r.log.Warn("container cannot start yet", "reason", reason, "message", msg)
	}
	r.setWaiting(reason, msg)
	t := time.NewTimer(r.backoff(r.configWaits))
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
	case <-r.a.configs.Changed():
	}
	return true
}

// setProbeGrace records a failed probe's own grace period, if it has one.
func (r *containerRunner) setProbeGrace(g *int64) {
	r.mu.Lock()
	r.probeGrace = g
	r.mu.Unlock()
}

// probeKillGrace is how long a container killed for a failed probe gets
// to stop: the probe's terminationGracePeriodSeconds, or the pod's.
func (r *containerRunner) probeKillGrace() time.Duration {
	r.mu.Lock()
	g := r.probeGrace
	r.mu.Unlock()
	if g != nil {
		return seconds(*g)
	}
	return terminationGrace(r.pod)
}
