package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// The status and scale subresources, as in Kubernetes:
//
//   - <object>/status (every kind with a status): GET reads the object;
//     PUT and PATCH (merge patch) write only its status: what the body says
//     of spec and metadata is ignored, but for metadata.resourceVersion, a
//     precondition.
//   - <object>/scale (Deployments and ReplicaSets): an autoscaling/v1
//     Scale. GET reads it; PUT and PATCH change only the object's
//     spec.replicas, with metadata.resourceVersion as a precondition.
//
// Writes without a precondition apply to the newest version, read again
// when another write came between the read and the write.

// registerSubresources adds the status and scale routes of a kind whose
// objects are at item.
func (s *Server) registerSubresources(info api.KindInfo, item string, k kindHandlers) {
	e := s.echo
	if hasStatus(info) {
		p := item + "/" + api.StatusSubresource
		e.GET(p, k.get)
		e.PUT(p, k.replaceStatus)
		e.PATCH(p, k.patchStatus)
	}
	if scalable(info) {
		p := item + "/" + api.ScaleSubresource
		e.GET(p, k.getScale)
		e.PUT(p, k.replaceScale)
		e.PATCH(p, k.patchScale)
	}
}

// hasStatus says whether a kind's objects have a status.
func hasStatus(info api.KindInfo) bool { return field(info.New(), "Status").IsValid() }

// scalable says whether a kind has the scale subresource.
func scalable(info api.KindInfo) bool {
	_, ok := replicasOf(info.New())
	return ok
}

// replicasOf is where a scalable object keeps spec.replicas.
func replicasOf(obj api.Object) (**int32, bool) {
	switch o := obj.(type) {
	case *api.Deployment:
		return &o.Spec.Replicas, true
	case *api.ReplicaSet:
		return &o.Spec.Replicas, true
	}
	return nil, false
}

// replaceStatus answers PUT on <object>/status.
func (k kindHandlers) replaceStatus(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	body, err := k.s.readObject(c, k.info)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	m := body.GetObjectMeta()
	if err := matchPathNamespace(k.info, m, ns); err != nil {
		return aboutObject(err, k.info, name)
	}
	if m.Name != "" && m.Name != name {
		return aboutObject(badField("metadata.name", "%q does not match the name in the path (%q)", m.Name, name), k.info, name)
	}
	if m.ResourceVersion != "" {
		if _, err := store.ParseResourceVersion(m.ResourceVersion); err != nil {
			return aboutObject(api.FieldErrors{{Field: "metadata.resourceVersion", Type: api.ErrTypeInvalid, Detail: err.Error()}}, k.info, name)
		}
	}
	return k.writeStatus(c, ns, name, m.ResourceVersion, func(api.Object) (api.Object, error) { return body, nil })
}

// patchStatus answers PATCH on <object>/status.
func (k kindHandlers) patchStatus(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	patch, rv, err := readMergePatch(c)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	return k.writeStatus(c, ns, name, rv, func(stored api.Object) (api.Object, error) {
		return k.applyMergePatch(stored, patch)
	})
}

// writeStatus stores the status of the object newStatus makes from the
// stored one, and nothing else of it.
func (k kindHandlers) writeStatus(c echo.Context, ns, name, rv string, newStatus func(stored api.Object) (api.Object, error)) error {
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	obj, err := k.updateWithRetry(c.Request().Context(), k.s.writeStore(dry), ns, name, rv, func(stored api.Object) (api.Object, error) {
		from, err := newStatus(stored)
		if err != nil {
			return nil, err
		}
		copyStatus(stored, from)
		if err := api.Validate(stored); err != nil {
			return nil, err
		}
		return stored, nil
	})
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	m := obj.GetObjectMeta()
	k.s.log.Log(c.Request().Context(), writeLogLevel(dry), "status written", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name, "resourceVersion", m.ResourceVersion, "dryRun", dry)
	k.setTypeMeta(obj)
	return c.JSON(http.StatusOK, obj)
}

// getScale answers GET on <object>/scale.
func (k kindHandlers) getScale(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	obj, err := k.s.store.GetObject(c.Request().Context(), k.info, ns, name)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	return c.JSON(http.StatusOK, scaleOf(obj))
}

// replaceScale answers PUT on <object>/scale.
func (k kindHandlers) replaceScale(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	sc, err := readScale(c)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	if err := matchScaleTarget(k.info, sc, ns, name); err != nil {
		return aboutObject(err, k.info, name)
	}
	return k.writeScale(c, ns, name, sc.ResourceVersion, func(api.Object) (*api.Scale, error) { return sc, nil })
}

// patchScale answers PATCH on <object>/scale.
func (k kindHandlers) patchScale(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	patch, rv, err := readMergePatch(c)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	return k.writeScale(c, ns, name, rv, func(stored api.Object) (*api.Scale, error) {
		merged, err := mergeInto(scaleOf(stored), patch)
		if err != nil {
			return nil, err
		}
		sc, err := api.DecodeScale(merged)
		if err != nil {
			return nil, err
		}
		return sc, matchScaleTarget(k.info, sc, ns, name)
	})
}

// writeScale sets the object's spec.replicas to what want makes of the
// stored object, and answers with the new Scale.
func (k kindHandlers) writeScale(c echo.Context, ns, name, rv string, want func(stored api.Object) (*api.Scale, error)) error {
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	obj, err := k.updateWithRetry(ctx, k.s.writeStore(dry), ns, name, rv, func(stored api.Object) (api.Object, error) {
		sc, err := want(stored)
		if err != nil {
			return nil, err
		}
		if sc.UID != "" && sc.UID != stored.GetObjectMeta().UID {
			return nil, fmt.Errorf("metadata.uid %q is not the stored object's (%q): it was deleted and created again: %w", sc.UID, stored.GetObjectMeta().UID, store.ErrConflict)
		}
		return stored, setReplicas(ctx, k.s.store, stored, sc.Spec.Replicas)
	})
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	sc := scaleOf(obj)
	k.s.log.Log(ctx, writeLogLevel(dry), "scaled", "kind", k.info.Kind, "namespace", sc.Namespace, "name", sc.Name, "replicas", sc.Spec.Replicas, "resourceVersion", sc.ResourceVersion, "dryRun", dry)
	return c.JSON(http.StatusOK, sc)
}

// setReplicas sets obj's spec.replicas and checks the result as an update.
func setReplicas(ctx context.Context, st *store.Store, obj api.Object, n int32) error {
	r, ok := replicasOf(obj)
	if !ok {
		return fmt.Errorf("%T has no spec.replicas", obj)
	}
	*r = &n
	if err := api.Validate(obj); err != nil {
		return err
	}
	return admission.AdmitUpdate(ctx, st, obj)
}

// readScale reads a Scale from the request body (JSON or YAML).
func readScale(c echo.Context) (*api.Scale, error) {
	mt := mediaType(c)
	switch mt {
	case mediaJSON, mediaYAML, "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		return nil, unsupportedMediaType("Content-Type %q is not supported: send the Scale as %s or %s, or PATCH it as %s", mt, mediaJSON, mediaYAML, api.MediaMergePatch)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, badRequest("read the request body: %v", err)
	}
	sc, err := api.DecodeScale(body)
	if err != nil {
		return nil, err
	}
	if sc.ResourceVersion != "" {
		if _, err := store.ParseResourceVersion(sc.ResourceVersion); err != nil {
			return nil, api.FieldErrors{{Field: "metadata.resourceVersion", Type: api.ErrTypeInvalid, Detail: err.Error()}}
		}
	}
	return sc, nil
}

// matchScaleTarget checks that a Scale names the path's object.
func matchScaleTarget(info api.KindInfo, sc *api.Scale, ns, name string) error {
	if err := matchPathNamespace(info, &sc.ObjectMeta, ns); err != nil {
		return err
	}
	if sc.Name != "" && sc.Name != name {
		return badField("metadata.name", "%q does not match the name in the path (%q)", sc.Name, name)
	}
	return nil
}

// scaleOf is the Scale of a scalable object.
func scaleOf(obj api.Object) *api.Scale {
	m := obj.GetObjectMeta()
	sc := &api.Scale{
		TypeMeta: api.TypeMeta{APIVersion: api.ScaleAPIVersion, Kind: api.ScaleKind},
		ObjectMeta: api.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp,
		},
	}
	var sel *api.LabelSelector
	switch o := obj.(type) {
	case *api.Deployment:
		sc.Status.Replicas, sel = o.Status.Replicas, o.Spec.Selector
	case *api.ReplicaSet:
		sc.Status.Replicas, sel = o.Status.Replicas, o.Spec.Selector
	}
	sc.Spec.Replicas = 1 // the default when spec.replicas is unset
	if r, ok := replicasOf(obj); ok && *r != nil {
		sc.Spec.Replicas = **r
	}
	sc.Status.Selector = selectorString(sel)
	return sc
}

// selectorString writes a LabelSelector in the syntax of labelSelector
// query parameters, as Kubernetes' Scale.status.selector.
func selectorString(sel *api.LabelSelector) string {
	if sel == nil {
		return ""
	}
	var m api.LabelMatcher
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.Requirements = append(m.Requirements, api.LabelRequirement{Key: k, Operator: api.LabelEquals, Values: []string{sel.MatchLabels[k]}})
	}
	for _, e := range sel.MatchExpressions {
		r := api.LabelRequirement{Key: e.Key, Values: slices.Clone(e.Values)}
		switch e.Operator {
		case api.LabelSelectorOpIn:
			r.Operator = api.LabelIn
		case api.LabelSelectorOpNotIn:
			r.Operator = api.LabelNotIn
		case api.LabelSelectorOpExists:
			r.Operator, r.Values = api.LabelExists, nil
		case api.LabelSelectorOpDoesNotExist:
			r.Operator, r.Values = api.LabelDoesNotExist, nil
		default:
			continue
		}
		m.Requirements = append(m.Requirements, r)
	}
	return m.String()
}
