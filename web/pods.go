package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
	req := api.LogRequest{Namespace: ns, Name: name, UID: pod.UID, Container: container, TailLines: tail}
	if limit != nil {
		req.LimitBytes = *limit
	}
	data, err := s.logs.PodLogs(ctx, pod, req)
	if err != nil {
		return aboutObject(fmt.Errorf("log of pod %s/%s container %s on node %s: %w", ns, name, container, pod.Spec.NodeName, err), info, name)
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", data)
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
