package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// deletePod deletes a pod the way Kubernetes does. A pod that runs on a
// node (bound, not in a terminal phase) is only marked: deletionTimestamp
// and deletionGracePeriodSeconds are set, its agent stops it within the
// grace period, and the control plane removes the key when the agent
// confirms. Any other pod, or any pod with gracePeriodSeconds=0 (force),
// is removed at once. Deleting a pod that is already terminating returns it
// unchanged, unless the delete is forced.
func (s *Server) deletePod(c echo.Context) error {
	return s.kind(store.For[*api.Pod](s.store).Info()).deleteNow(c) // admission.Delete does the above
}

// preparePodUpdate keeps the node a pod is bound to: a replacement without
// spec.nodeName keeps the stored one (the scheduler set it), and a bound
// pod cannot move to another node.
func preparePodUpdate(stored, updated api.Object) error {
	old, ok1 := stored.(*api.Pod)
	nw, ok2 := updated.(*api.Pod)
	if !ok1 || !ok2 {
		return nil
	}
	switch {
	case nw.Spec.NodeName == "":
		nw.Spec.NodeName = old.Spec.NodeName
	case old.Spec.NodeName != "" && nw.Spec.NodeName != old.Spec.NodeName:
		return api.FieldErrors{{Field: "spec.nodeName", Type: api.ErrTypeInvalid,
			Detail: fmt.Sprintf("%q: a pod bound to node %q cannot move; delete it and create it again", nw.Spec.NodeName, old.Spec.NodeName)}}
	}
	return nil
}

// podLog returns a container's log as text/plain, read from the node that
// runs the pod.
func (s *Server) podLog(c echo.Context) error {
	info := store.For[*api.Pod](s.store).Info()
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	tail, err := queryInt(c, "tailLines", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limitBytes", 1)
	if err != nil {
		return err
	}
	follow, err := queryBool(c, "follow")
	if err != nil {
		return err
	}
	previous, err := queryBool(c, "previous")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pod, err := store.For[*api.Pod](s.store).Get(ctx, ns, name)
	if err != nil {
		return aboutObject(err, info, name)
	}
	container := c.QueryParam("container")
	names := make([]string, len(pod.Spec.Containers))
	for i, ctr := range pod.Spec.Containers {
		names[i] = ctr.Name
	}
	switch {
	case container == "" && len(names) == 1:
		container = names[0]
	case container == "":
		return aboutObject(badField("container", "pod %s/%s has several containers: name one of %s", ns, name, strings.Join(names, ", ")), info, name)
	case !slices.Contains(names, container) && !slices.ContainsFunc(pod.Spec.InitContainers, func(c api.Container) bool { return c.Name == container }):
		return aboutObject(badField("container", "%q is not a container of pod %s/%s (it has %s)", container, ns, name, strings.Join(names, ", ")), info, name)
	}
	if pod.Spec.NodeName == "" {
		return aboutObject(badRequest("pod %s/%s is not scheduled to a node yet, so it has no log", ns, name), info, name)
	}
	if s.logs == nil {
		return serviceUnavailable("this server cannot read pod logs (no log source is configured)")
	}
	req := api.LogRequest{Namespace: ns, Name: name, UID: pod.UID, Container: container, TailLines: tail, Previous: previous}
	if limit != nil {
		req.LimitBytes = *limit
	}
	about := func(err error) error {
		return aboutObject(fmt.Errorf("log of pod %s/%s container %s on node %s: %w", ns, name, container, pod.Spec.NodeName, err), info, name)
	}
	if follow && !previous {
		f, ok := s.logs.(LogFollower)
		if !ok {
			return badField("follow", "this server's log source cannot follow a log")
		}
		return s.followLog(c, f, pod, req, about)
	}
	data, err := s.logs.PodLogs(ctx, pod, req)
	if err != nil {
		return about(err)
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", data)
}

// LogFollower is a LogSource that returns the node's whole answer: where
// the data ends in the log file and whether the container terminated, so
// that the log endpoint can follow a log (follow=true).
type LogFollower interface {
	ReadPodLog(ctx context.Context, pod *api.Pod, req api.LogRequest) (api.LogResponse, error)
}

// FollowLogInterval is how often a followed log is read again.
const FollowLogInterval = 250 * time.Millisecond

// followLog streams a log as it grows: it reads the end of the log (with
// tailLines), then asks the node every FollowLogInterval for what came after,
// until the client goes away, the server shuts down or the container
// terminates (after one last read). An error before the first byte is the
// answer; a later one ends the stream.
func (s *Server) followLog(c echo.Context, f LogFollower, pod *api.Pod, req api.LogRequest, about func(error) error) error {
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	stop := context.AfterFunc(s.watchCtx, cancel)
	defer stop()
	resp, err := f.ReadPodLog(ctx, pod, req)
	if err != nil {
		return about(err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Response().WriteHeader(http.StatusOK)
	rc := http.NewResponseController(c.Response().Writer)
	req.TailLines = nil
	t := time.NewTicker(FollowLogInterval)
	defer t.Stop()
	for {
		if len(resp.Data) > 0 {
			if _, err := c.Response().Write(resp.Data); err != nil {
				return nil // the client went away
			}
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return nil
		}
		if resp.Terminated && len(resp.Data) == 0 {
			return nil
		}
		// Read again at once while there is news (there may be more than
		// one answer holds); wait for the next tick once there is none.
		if !resp.Terminated && len(resp.Data) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		offset := resp.Offset
		req.SinceOffset = &offset
		resp, err = f.ReadPodLog(ctx, pod, req)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("follow log ended", "pod", pod.Namespace+"/"+pod.Name, "container", req.Container, "err", err)
			}
			return nil
		}
	}
}

// queryInt parses an optional integer query parameter that must be at
// least least; nil when absent.
func queryInt(c echo.Context, param string, least int64) (*int64, error) {
	v := c.QueryParam(param)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, badField(param, "%q is not an integer", v)
	}
	if n < least {
		return nil, badField(param, "%d must be %d or more", n, least)
	}
	return &n, nil
}
