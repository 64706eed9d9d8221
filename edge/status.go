package edge

import (
	"fmt"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// Container waiting and terminated reasons the agent reports, besides the
// runtimes.Reason* exit reasons. Most are Kubernetes' own.
const (
	ReasonContainerCreating  = "ContainerCreating"
	ReasonErrImagePull       = "ErrImagePull"
	ReasonImagePullBackOff   = "ImagePullBackOff"
	ReasonCrashLoopBackOff   = "CrashLoopBackOff"
	ReasonInvalidModule      = "InvalidModule" // a Wasm module the driver refuses
	ReasonInvalidImage       = "InvalidImage"  // an image the container driver refuses
	ReasonStartError         = "StartError"    // the command cannot be run
	ReasonCreateContainerErr = "CreateContainerError"
	// ReasonCreateContainerConfigErr: a ConfigMap, Secret or key the
	// container's env or volumes need is not on the node (yet).
	ReasonCreateContainerConfigErr = "CreateContainerConfigError"
	// ReasonPodInitializing: the app containers wait for the init
	// containers.
	ReasonPodInitializing    = "PodInitializing"
	ReasonUnsupportedRuntime = "UnsupportedRuntime" // the node has no driver for the pod
	ReasonInvalidPodSpec     = "InvalidPodSpec"     // the agent cannot run this spec
	ReasonDeadlineExceeded   = "DeadlineExceeded"   // activeDeadlineSeconds passed
	ReasonAgentRestarted     = "Unknown"            // the task did not survive an agent restart
)

// podStatusInput is everything a pod's status is computed from.
type podStatusInput struct {
	pod       *api.Pod // the working (defaulted) pod
	records   map[string]*containerRecord
	probes    map[string]probeState // by container name
	problem   *podFailure           // the pod cannot run here at all
	failure   *podFailure           // the pod failed for good (deadline)
	startTime *time.Time
	hostIP    string
	prev      *api.PodStatus
	now       time.Time
}

// containerStatus is one container's status from its record.
func containerStatus(c *api.Container, rec *containerRecord, problem *podFailure, notYet string) api.ContainerStatus {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	switch {
	case problem != nil:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: problem.Reason, Message: problem.Message}
	case rec == nil:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: notYet}
	default:
		cs.ImageID, cs.ContainerID = rec.ImageID, rec.ContainerID
		cs.RestartCount = rec.RestartCount
		cs.State, cs.LastState = rec.State, rec.LastState
		if cs.State.Waiting == nil && cs.State.Running == nil && cs.State.Terminated == nil {
			cs.State.Waiting = &api.ContainerStateWaiting{Reason: notYet}
		}
	}
	return cs
}

// computePodStatus builds the pod's status the way the kubelet does: init
// containers first (the pod is Pending and not Initialized until each
// completed; one that failed for good fails the pod), then the app
// containers, each Started once its startup probe passed and Ready once
// its readiness probe did (either counts as passed when there is none).
func computePodStatus(in podStatusInput) api.PodStatus {
	st := api.PodStatus{HostIP: in.hostIP, StartTime: in.startTime}
	if in.prev != nil {
		st.Conditions = append([]api.PodCondition(nil), in.prev.Conditions...)
	}
	var incomplete []string
	initFailed := false
	for i := range in.pod.Spec.InitContainers {
		c := &in.pod.Spec.InitContainers[i]
		rec := in.records[c.Name]
		cs := containerStatus(c, rec, in.problem, ReasonPodInitializing)
		if i == 0 && cs.State.Waiting != nil && cs.State.Waiting.Reason == ReasonPodInitializing && in.problem == nil {
			cs.State.Waiting.Reason = ReasonContainerCreating
		}
		done := rec != nil && completed(rec)
		running := cs.State.Running != nil
		cs.Ready, cs.Started = done, &running
		if !done {
			incomplete = append(incomplete, c.Name)
			if rec != nil && rec.Done {
				initFailed = true
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	initialized := len(incomplete) == 0

	var notReady, notes []string
	for i := range in.pod.Spec.Containers {
		c := &in.pod.Spec.Containers[i]
		notYet := ReasonContainerCreating
		if !initialized {
			notYet = ReasonPodInitializing
		}
		cs := containerStatus(c, in.records[c.Name], in.problem, notYet)
		ps := in.probes[c.Name]
		running := cs.State.Running != nil
		started := running && (c.StartupProbe == nil || ps.Started)
		cs.Started = &started
		cs.Ready = started && (c.ReadinessProbe == nil || ps.Ready)
		if !cs.Ready {
			notReady = append(notReady, c.Name)
		}
		if running && ps.Note != "" {
			notes = append(notes, c.Name+": "+ps.Note)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case initFailed:
		st.Phase = api.PodFailed
	case !initialized:
		st.Phase = api.PodPending
	default:
		st.Phase = podPhase(in.pod.Spec.RestartPolicy, st.ContainerStatuses)
	}
	switch {
	case in.problem != nil:
		st.Phase, st.Reason, st.Message = api.PodFailed, in.problem.Reason, in.problem.Message
	case in.failure != nil:
		st.Phase, st.Reason, st.Message = api.PodFailed, in.failure.Reason, in.failure.Message
	}

	t := in.now.UTC().Truncate(time.Second)
	init := api.PodCondition{Type: api.PodInitialized, Status: api.ConditionTrue, LastTransitionTime: t}
	if !initialized {
		init.Status, init.Reason = api.ConditionFalse, "ContainersNotInitialized"
		init.Message = "containers with incomplete status: [" + strings.Join(incomplete, " ") + "]"
	}
	st.SetCondition(init)
	ready := api.PodCondition{Status: api.ConditionTrue, LastTransitionTime: t}
	switch {
	case st.Phase == api.PodSucceeded:
		ready.Status, ready.Reason = api.ConditionFalse, "PodCompleted"
	case st.Phase == api.PodFailed:
		ready.Status, ready.Reason = api.ConditionFalse, "PodFailed"
	case len(notReady) > 0 || st.Phase != api.PodRunning:
		ready.Status, ready.Reason = api.ConditionFalse, "ContainersNotReady"
		ready.Message = "containers with unready status: [" + strings.Join(notReady, " ") + "]"
	}
	if len(notes) > 0 {
		n := strings.Join(notes, "; ")
		if ready.Message != "" {
			ready.Message += "; " + n
		} else {
			ready.Message = n
		}
	}
	for _, ct := range []api.PodConditionType{api.ContainersReady, api.PodReady} {
		c := ready
		c.Type = ct
		st.SetCondition(c)
	}
	return st
}

// podPhase is the kubelet's phase rule: any container that has not started
// yet keeps the pod Pending; one running makes it Running; when all have
// stopped, the restart policy decides.
func podPhase(policy api.RestartPolicy, statuses []api.ContainerStatus) api.PodPhase {
	var waiting, running, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 && cs.State.Terminated.Signal == 0 {
				succeeded++
			}
		case cs.LastState.Terminated != nil:
			stopped++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return api.PodPending
	case running > 0:
		return api.PodRunning
	case stopped > 0:
		switch {
		case policy == api.RestartPolicyAlways:
			return api.PodRunning
		case stopped == succeeded:
			return api.PodSucceeded
		case policy == api.RestartPolicyOnFailure:
			return api.PodRunning
		}
		return api.PodFailed
	}
	return api.PodPending
}

// terminatedState turns a driver's exit result into a container state.
func terminatedState(res *runtimes.ExitResult, startedAt time.Time) *api.ContainerStateTerminated {
	t := &api.ContainerStateTerminated{
		ExitCode:   int32(res.ExitCode),
		Signal:     int32(res.Signal),
		Reason:     res.Reason,
		Message:    res.Message,
		StartedAt:  startedAt,
		FinishedAt: res.FinishedAt.UTC(),
	}
	if res.FinishedAt.IsZero() {
		t.FinishedAt = time.Now().UTC()
	}
	if t.Reason == "" {
		switch {
		case res.OOMKilled:
			t.Reason = runtimes.ReasonOOMKilled
		case res.Successful():
			t.Reason = runtimes.ReasonCompleted
		default:
			t.Reason = runtimes.ReasonError
		}
	}
	return t
}

// shouldRestart applies the restart policy to a container that exited.
func shouldRestart(policy api.RestartPolicy, success bool) bool {
	return policy == api.RestartPolicyAlways || policy == api.RestartPolicyOnFailure && !success
}

// runtimeOf is the runtime handler a pod asks for.
func runtimeOf(p *api.Pod) string {
	switch p.Spec.RuntimeClassName {
	case "":
		return "containerd"
	default:
		return p.Spec.RuntimeClassName
	}
}

// checkRunnable says why a pod cannot run on this node at all, or nil.
func (a *Agent) checkRunnable(p *api.Pod) *podFailure {
	if errs := api.ValidatePod(p); len(errs) > 0 {
		return &podFailure{Reason: ReasonInvalidPodSpec, Message: "the agent cannot run this pod: " + errs.Error()}
	}
	rt := runtimeOf(p)
	if _, ok := a.drivers[rt]; !ok {
		offers := strings.Join(a.runtimeNames(), ", ")
		if offers == "" {
			offers = "none"
		}
		return &podFailure{Reason: ReasonUnsupportedRuntime, Message: fmt.Sprintf("node %s has no %q runtime (it offers: %s)", a.opts.NodeName, rt, offers)}
	}
	return nil
}
