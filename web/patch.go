package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// PATCH on an object's path takes a JSON merge patch (RFC 7386,
// Content-Type application/merge-patch+json): the patch is applied to the
// stored object's JSON and the result goes the way of a replace (strict
// decoding, defaults, validation, admission; uid, creationTimestamp and
// status are kept). metadata.resourceVersion in the patch is a
// precondition (409 when the object moved on); without it the patch is
// applied to the newest version, read again when another write came
// between the read and the write.

// patchAttempts bounds how often a write without a resourceVersion
// precondition is tried again after losing a race with another writer.
const patchAttempts = 5

// Patch media types Kubernetes clients send that Skiff does not apply.
const (
	mediaJSONPatch           = "application/json-patch+json"
	mediaStrategicMergePatch = "application/strategic-merge-patch+json"
	mediaApplyPatch          = "application/apply-patch+yaml"
)

// patch answers PATCH on an object's path.
func (k kindHandlers) patch(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	patch, rv, err := readMergePatch(c)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	ctx := c.Request().Context()
	hostPathOK := k.s.mayUseHostPath(c)
	obj, err := k.updateWithRetry(ctx, k.s.writeStore(dry), ns, name, rv, func(stored api.Object) (api.Object, error) {
		obj, err := k.applyMergePatch(stored, patch)
		if err != nil {
			return nil, err
		}
		return obj, k.prepareReplacement(ctx, ns, name, stored, obj, hostPathOK)
	})
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	m := obj.GetObjectMeta()
	k.s.log.Log(ctx, writeLogLevel(dry), "patched", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name, "resourceVersion", m.ResourceVersion, "dryRun", dry)
	k.setTypeMeta(obj)
	return c.JSON(http.StatusOK, obj)
}

// prepareReplacement makes obj, a new version of stored, ready to be
// written the way replace does: it must name the path's object, gets the
// defaults, keeps what the system owns (uid, creationTimestamp, the
// deletion marks, status), and passes validation and admission
// (hostPathOK: the writer may use hostPath volumes).
func (k kindHandlers) prepareReplacement(ctx context.Context, ns, name string, stored, obj api.Object, hostPathOK bool) error {
	m := obj.GetObjectMeta()
	if err := matchPathNamespace(k.info, m, ns); err != nil {
		return err
	}
	switch m.Name {
	case "":
		m.Name = name
	case name:
	default:
		return badField("metadata.name", "%q does not match the name in the path (%q)", m.Name, name)
	}
	sm := stored.GetObjectMeta()
	if m.UID != "" && m.UID != sm.UID {
		return fmt.Errorf("metadata.uid %q is not the stored object's (%q): it was deleted and created again: %w", m.UID, sm.UID, store.ErrConflict)
	}
	api.SetDefaults(obj)
	m.UID, m.CreationTimestamp = sm.UID, sm.CreationTimestamp
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = sm.DeletionTimestamp, sm.DeletionGracePeriodSeconds
	copyStatus(obj, stored)
	if k.prepareUpdate != nil {
		if err := k.prepareUpdate(stored, obj); err != nil {
			return err
		}
	}
	if err := api.Validate(obj); err != nil {
		return err
	}
	if err := admission.AdmitHostPath(obj, stored, hostPathOK); err != nil {
		return err
	}
	return admission.AdmitUpdate(ctx, k.s.store, obj)
}

// updateWithRetry reads the object, lets build make its new version, and
// writes that over what was read through st (a DryRun view for a dry run,
// which writes nothing). With wantRV set the stored object must be
// at that resourceVersion (a conflict otherwise, and a lost race is final);
// without, a write that lost a race with another writer reads and builds
// again, up to patchAttempts times. build may change and return stored.
func (k kindHandlers) updateWithRetry(ctx context.Context, st *store.Store, ns, name, wantRV string, build func(stored api.Object) (api.Object, error)) (api.Object, error) {
	for attempt := 1; ; attempt++ {
		stored, err := st.GetObject(ctx, k.info, ns, name)
		if err != nil {
			return nil, err
		}
		storedRV := stored.GetObjectMeta().ResourceVersion
		if wantRV != "" && wantRV != storedRV {
			return nil, fmt.Errorf("%s %q is at resourceVersion %s, not %s: read it again and retry: %w", k.info.Kind, name, storedRV, wantRV, store.ErrConflict)
		}
		obj, err := build(stored)
		if err != nil {
			return nil, err
		}
		obj.GetObjectMeta().ResourceVersion = storedRV
		err = st.UpdateObject(ctx, obj)
		if err == nil {
			if !st.IsDryRun() {
				k.s.quotaWritten(ctx, obj)
			}
			return obj, nil
		}
		if wantRV != "" || attempt >= patchAttempts || !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
}

// applyMergePatch applies patch to stored's JSON and decodes the result
// strictly into a new object of the kind.
func (k kindHandlers) applyMergePatch(stored api.Object, patch map[string]any) (api.Object, error) {
	k.setTypeMeta(stored)
	merged, err := mergeInto(stored, patch)
	if err != nil {
		return nil, err
	}
	obj := k.info.New()
	if err := api.DecodeInto(merged, obj); err != nil {
		return nil, wrongKind(err, k.info)
	}
	return obj, nil
}

// mergeInto returns the JSON of v with patch applied.
func mergeInto(v any, patch map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the stored object: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode the stored object: %w", err)
	}
	out, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return nil, fmt.Errorf("encode the patched object: %w", err)
	}
	return out, nil
}

// mergePatch applies a JSON merge patch to target as RFC 7386 says: an
// object patch merges member by member, null removes a member, anything
// else replaces the target. target may be changed.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = make(map[string]any, len(p))
	}
	for name, v := range p {
		if v == nil {
			delete(t, name)
			continue
		}
		t[name] = mergePatch(t[name], v)
	}
	return t
}

// readMergePatch reads a JSON merge patch from the request body; it must
// be a JSON object. rv is its metadata.resourceVersion, the precondition
// of the write ("" for none).
func readMergePatch(c echo.Context) (patch map[string]any, rv string, err error) {
	switch mt := mediaType(c); mt {
	case api.MediaMergePatch:
	case mediaJSONPatch, mediaStrategicMergePatch, mediaApplyPatch:
		return nil, "", unsupportedMediaType("Content-Type %q is not supported: Skiff applies only JSON merge patches (RFC 7386); send the patch as %s", mt, api.MediaMergePatch)
	default:
		return nil, "", unsupportedMediaType("Content-Type %q is not supported for PATCH: send a JSON merge patch (RFC 7386) as %s", mt, api.MediaMergePatch)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", err
		}
		return nil, "", badRequest("read the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", &api.DecodeError{Reason: "InvalidJSON", Msg: "invalid JSON merge patch: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", &api.DecodeError{Reason: "InvalidJSON", Msg: "invalid JSON merge patch: more than one JSON value"}
	}
	patch, ok := v.(map[string]any)
	if !ok {
		return nil, "", &api.DecodeError{Reason: "InvalidObject", Msg: "a merge patch must be a JSON object, like {\"spec\":{\"replicas\":3}}"}
	}
	rv, err = patchResourceVersion(patch)
	return patch, rv, err
}

// patchResourceVersion is the patch's metadata.resourceVersion, checked
// to be one.
func patchResourceVersion(patch map[string]any) (string, error) {
	meta, ok := patch["metadata"].(map[string]any)
	if !ok {
		return "", nil
	}
	raw, ok := meta["resourceVersion"]
	if !ok || raw == nil {
		return "", nil
	}
	rv, ok := raw.(string)
	if !ok {
		return "", api.FieldErrors{{Field: "metadata.resourceVersion", Type: api.ErrTypeInvalid, Detail: fmt.Sprintf("expected a string, got %v", raw)}}
	}
	if rv == "" {
		return "", nil
	}
	if _, err := store.ParseResourceVersion(rv); err != nil {
		return "", api.FieldErrors{{Field: "metadata.resourceVersion", Type: api.ErrTypeInvalid, Detail: err.Error()}}
	}
	return rv, nil
}
