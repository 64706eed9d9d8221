package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// Probes, as the kubelet runs them. Each running task of a container with
// probes gets a prober: the startup probe runs first, from
// initialDelaySeconds after the start, every periodSeconds, until it
// succeeds (the container is started) or fails failureThreshold times in a
// row (the container is killed); then liveness (killed after
// failureThreshold failures in a row) and readiness (ready after
// successThreshold successes, not ready after failureThreshold failures)
// run side by side. A killed container is restarted per restartPolicy.
//
// exec probes need a driver that implements runtimes.Execer (the Wasm
// driver runs the module again with the command as argv); without one the
// probe is not run and counts as passing, with a note in the pod's Ready
// condition. httpGet and tcpSocket probes go to the node's address, as
// containers share the host network (the API refuses them for Wasm pods).

// probeState is what the probes found about a container's current task.
type probeState struct {
	Started bool   // the startup probe passed (or there is none)
	Ready   bool   // the readiness probe passed (or there is none)
	Note    string // why a probe is not run
}

type probeOutcome int

const (
	probeSuccess probeOutcome = iota
	probeFailure
	probeUnsupported
)

// maxProbeOutput bounds the output of a failed exec probe kept in messages.
const maxProbeOutput = 256

// prober runs the probes of one task.
type prober struct {
	r         *containerRunner
	taskID    string
	startedAt time.Time
	kill      chan string // the reason, once

	mu    sync.Mutex
	state probeState
	notes []string
}

func hasProbes(c *api.Container) bool {
	return c.StartupProbe != nil || c.LivenessProbe != nil || c.ReadinessProbe != nil
}

// startProbes starts the task's prober; stop ends it and waits. kill
// receives the reason when a liveness or startup probe failed. Without
// probes both are nil/no-ops.
func (r *containerRunner) startProbes(taskID string, startedAt time.Time) (kill <-chan string, stop func()) {
	r.w.setProbe(r.c.Name, probeState{})
	if r.init || !hasProbes(&r.c) {
		return nil, func() {}
	}
	p := &prober{r: r, taskID: taskID, startedAt: startedAt, kill: make(chan string, 1)}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	return p.kill, func() { cancel(); <-done }
}

func (p *prober) run(ctx context.Context) {
	c := &p.r.c
	if sp := c.StartupProbe; sp != nil {
		started := false
		p.watch(ctx, sp, "Startup", func(o probeOutcome, msg string, successes, failures int) bool {
			switch {
			case o == probeUnsupported:
				p.note("startupProbe not run: " + msg)
				started = true
			case o == probeSuccess:
				started = true
			case failures >= int(threshold(sp.FailureThreshold, api.DefaultProbeFailureThreshold)):
				p.killFor("Startup probe failed: "+msg, sp)
				return true
			}
			return started
		})
		if !started {
			return
		}
		p.update(func(s *probeState) { s.Started = true })
	}
	var wg sync.WaitGroup
	if lp := c.LivenessProbe; lp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.watch(ctx, lp, "Liveness", func(o probeOutcome, msg string, successes, failures int) bool {
				switch {
				case o == probeUnsupported:
					p.note("livenessProbe not run: " + msg)
					return true
				case o == probeFailure && failures >= int(threshold(lp.FailureThreshold, api.DefaultProbeFailureThreshold)):
					p.killFor("Liveness probe failed: "+msg, lp)
					return true
				}
				return false
			})
		}()
	}
	if rp := c.ReadinessProbe; rp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.watch(ctx, rp, "Readiness", func(o probeOutcome, msg string, successes, failures int) bool {
				switch {
				case o == probeUnsupported:
					p.note("readinessProbe not run: " + msg)
					p.update(func(s *probeState) { s.Ready = true })
					return true
				case o == probeSuccess && successes >= int(threshold(rp.SuccessThreshold, api.DefaultProbeSuccessThreshold)):
					p.update(func(s *probeState) { s.Ready = true })
				case o == probeFailure && failures >= int(threshold(rp.FailureThreshold, api.DefaultProbeFailureThreshold)):
					p.update(func(s *probeState) { s.Ready = false })
				}
				return false
			})
		}()
	}
	wg.Wait()
}

func threshold(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// watch runs the probe every period, from initialDelaySeconds after the
// task started, until ctx ends or handle returns true. handle gets each
// outcome with the count of successes or failures in a row.
func (p *prober) watch(ctx context.Context, pr *api.Probe, kind string, handle func(o probeOutcome, msg string, successes, failures int) bool) {
	period := seconds(int64(threshold(pr.PeriodSeconds, api.DefaultProbePeriodSeconds)))
	timeout := seconds(int64(threshold(pr.TimeoutSeconds, api.DefaultProbeTimeoutSeconds)))
	if !sleepCtx(ctx, time.Until(p.startedAt.Add(seconds(int64(pr.InitialDelaySeconds))))) {
		return
	}
	successes, failures := 0, 0
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		o, msg := p.check(cctx, pr)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch o {
		case probeSuccess:
			successes, failures = successes+1, 0
		case probeFailure:
			successes, failures = 0, failures+1
			p.r.log.Debug(kind+" probe failed", "failures", failures, "message", msg)
		}
		if handle(o, msg, successes, failures) {
			return
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

func (p *prober) update(fn func(*probeState)) {
	p.mu.Lock()
	fn(&p.state)
	st := p.state
	st.Note = strings.Join(p.notes, "; ")
	p.mu.Unlock()
	p.r.w.setProbe(p.r.c.Name, st)
}

func (p *prober) note(n string) {
	p.r.log.Info("probe not run", "note", n)
	p.mu.Lock()
	p.notes = append(p.notes, n)
	p.mu.Unlock()
	p.update(func(*probeState) {})
}

// killFor asks the runner to kill the task, once.
func (p *prober) killFor(reason string, pr *api.Probe) {
	p.r.log.Info("container failed a probe; killing it", "reason", reason)
	p.r.setProbeGrace(pr.TerminationGracePeriodSeconds)
	select {
	case p.kill <- reason:
	default:
	}
}

// check runs the probe once.
func (p *prober) check(ctx context.Context, pr *api.Probe) (probeOutcome, string) {
	switch {
	case pr.Exec != nil:
		ex, ok := p.r.drv.(runtimes.Execer)
		if !ok {
			return probeUnsupported, fmt.Sprintf("the %s runtime cannot exec into containers", p.r.drv.Capabilities().Runtime)
		}
		code, out, err := ex.Exec(ctx, p.taskID, pr.Exec.Command)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return probeFailure, fmt.Sprintf("command %q timed out after %ds", pr.Exec.Command, threshold(pr.TimeoutSeconds, api.DefaultProbeTimeoutSeconds))
		case err != nil:
			return probeFailure, fmt.Sprintf("command %q: %v", pr.Exec.Command, err)
		case code != 0:
			o := strings.TrimSpace(string(out))
			if len(o) > maxProbeOutput {
				o = o[:maxProbeOutput] + "…"
			}
			return probeFailure, fmt.Sprintf("command %q exited with %d: %s", pr.Exec.Command, code, o)
		}
		return probeSuccess, ""
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, pr.HTTPGet)
	case pr.TCPSocket != nil:
		addr, err := p.address(pr.TCPSocket.Host, pr.TCPSocket.Port)
		if err != nil {
			return probeFailure, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return probeFailure, fmt.Sprintf("dial tcp %s: %v", addr, unwrapNetErr(err))
		}
		_ = conn.Close()
		return probeSuccess, ""
	}
	return probeUnsupported, "the probe has no handler the agent runs"
}

func (p *prober) httpGet(ctx context.Context, g *api.HTTPGetAction) (probeOutcome, string) {
	addr, err := p.address(g.Host, g.Port)
	if err != nil {
		return probeFailure, err.Error()
	}
	scheme := "http"
	if strings.EqualFold(g.Scheme, "HTTPS") {
		scheme = "https"
	}
	path := g.Path
	if path == "" {
		path = "/"
	}
	url := scheme + "://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeFailure, fmt.Sprintf("GET %s: %v", url, err)
	}
	req.Header.Set("User-Agent", "skiff-probe/1.0")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := p.r.a.probeClient.Do(req)
	if err != nil {
		return probeFailure, fmt.Sprintf("GET %s: %v", url, unwrapNetErr(err))
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return probeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return probeSuccess, ""
}

// address is host:port for a network probe: the probe's host or the
// node's address, and a port number or the name of a container port.
func (p *prober) address(host string, port api.IntOrString) (string, error) {
	n := port.IntVal
	if port.IsString {
		var ok bool
		if n, ok = api.ContainerPortByName(&p.r.c, port.StrVal); !ok {
			return "", fmt.Errorf("port %q is not the name of a port of container %s", port.StrVal, p.r.c.Name)
		}
	}
	if host == "" {
		host = p.r.a.HostIP()
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(n))), nil
}

func unwrapNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// newProbeClient is the HTTP client of httpGet probes: no connection
// reuse (each probe opens its own, as the kubelet's do) and no
// certificate checks for HTTPS, as in Kubernetes.
func newProbeClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as the kubelet's
		Proxy:             nil,
	}}
}
