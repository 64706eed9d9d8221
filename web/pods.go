package web

import (
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

// deleteAttempts bounds the retries of a delete that races with writers.
const deleteAttempts = 10

// deletePod deletes a pod the way Kubernetes does. A pod that runs on a
// node (bound, not in a terminal phase) is only marked: deletionTimestamp
// and deletionGracePeriodSeconds are set, its agent stops it within the
// grace period, and the control plane removes the key when the agent
// confirms. Any other pod, or any pod with gracePeriodSeconds=0 (force),
// is removed at once. Deleting a pod that is already terminating returns it
// unchanged, unless the delete is forced.
func (s *Server) deletePod(c echo.Context) error {
	info := store.For[*api.Pod](s.store).Info()
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	grace, err := queryInt(c, "gracePeriodSeconds", 0)
	if err != nil {
		return err
	}
	force := grace != nil && *grace == 0
	ctx := c.Request().Context()
	pods := store.For[*api.Pod](s.store)
	for range deleteAttempts {
		deleteNow := false
		pod, err := pods.Mutate(ctx, ns, name, func(p *api.Pod) error {
			deleteNow = false
			switch {
			case force || p.Spec.NodeName == "" || p.Status.Phase.Terminal():
				deleteNow = true
				return store.ErrSkip
			case p.DeletionTimestamp != nil:
				return store.ErrSkip // already terminating
			}
			g := api.DefaultTerminationGracePeriodSeconds
			switch {
			case grace != nil:
				g = *grace
			case p.Spec.TerminationGracePeriodSeconds != nil:
				g = *p.Spec.TerminationGracePeriodSeconds
			}
			now := s.now().UTC().Truncate(time.Second)
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &g
			return nil
		})
		if err != nil {
			return aboutObject(err, info, name)
		}
		if !deleteNow {
			s.log.Info("pod terminating", "namespace", ns, "name", name, "node", pod.Spec.NodeName)
			pod.Kind, pod.APIVersion = info.Kind, info.APIVersion()
			return c.JSON(http.StatusOK, pod)
		}
		err = s.store.DeleteObject(ctx, info, ns, name, pod.ResourceVersion)
		if errors.Is(err, store.ErrConflict) {
			continue // changed since it was read: decide again
		}
		if err != nil {
			return aboutObject(err, info, name)
		}
		s.log.Info("pod deleted", "namespace", ns, "name", name, "force", force)
		pod.Kind, pod.APIVersion = info.Kind, info.APIVersion()
		return c.JSON(http.StatusOK, pod)
	}
	return aboutObject(fmt.Errorf("delete pod %s/%s: it kept changing while being deleted: %w", ns, name, store.ErrConflict), info, name)
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
	case !slices.Contains(names, container):
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
