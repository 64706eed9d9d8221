package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// kindHandlers serve the REST verbs of one kind the same way for every
// kind; what differs between kinds is in the hooks.
type kindHandlers struct {
	s    *Server
	info api.KindInfo
	// prepareUpdate, if set, reconciles a replacement with the stored
	// object before validation (for pods: keep spec.nodeName).
	prepareUpdate func(stored, updated api.Object) error
}

func (s *Server) kind(info api.KindInfo) kindHandlers {
	k := kindHandlers{s: s, info: info}
	if info.Kind == "Pod" {
		k.prepareUpdate = preparePodUpdate
	}
	return k
}

// list answers GET on a collection: a list page, or with watch=true a
// watch stream (watch.go).
func (k kindHandlers) list(c echo.Context) error {
	ns, err := pathNamespace(c)
	if err != nil {
		return err
	}
	q, err := k.parseListQuery(c, ns)
	if err != nil {
		return err
	}
	if q.watch {
		return k.watch(c, ns, q)
	}
	return k.listPage(c, ns, q)
}

func (k kindHandlers) get(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	obj, err := k.s.store.GetObject(c.Request().Context(), k.info, ns, name)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	k.setTypeMeta(obj)
	return c.JSON(http.StatusOK, obj)
}

func (k kindHandlers) create(c echo.Context) error {
	ns, err := pathNamespace(c)
	if err != nil {
		return err
	}
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	st := k.s.writeStore(dry)
	obj, err := k.s.readObject(c, k.info)
	if err != nil {
		return aboutObject(err, k.info, "")
	}
	m := obj.GetObjectMeta()
	if err := matchPathNamespace(k.info, m, ns); err != nil {
		return aboutObject(err, k.info, m.Name)
	}
	// Users do not set what the system owns: status and the
	// system-managed metadata.
	clearStatus(obj)
	m.UID, m.ResourceVersion, m.Generation = "", "", 0
	m.CreationTimestamp = time.Time{}
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = nil, nil
	api.SetDefaults(obj)
	if err := validateCreate(obj); err != nil {
		return aboutObject(err, k.info, m.Name)
	}
	if err := admission.AdmitHostPath(obj, nil, k.s.mayUseHostPath(c)); err != nil {
		return aboutObject(err, k.info, m.Name)
	}
	var quotas []*api.ResourceQuota // nil: admission reads them from the store
	if k.s.quotas.HasSynced() {
		quotas = k.s.quotas.List(obj.GetObjectMeta().Namespace, nil)
	}
	if err := admission.AdmitWith(c.Request().Context(), st, obj, quotas); err != nil {
		return aboutObject(err, k.info, m.Name)
	}
	if err := st.CreateObject(c.Request().Context(), obj); err != nil {
		return aboutObject(err, k.info, m.Name)
	}
	k.setTypeMeta(obj)
	if dry {
		k.s.log.Debug("created (dry run)", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name)
		return c.JSON(http.StatusCreated, obj)
	}
	k.s.quotaWritten(c.Request().Context(), obj)
	k.s.log.Info("created", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name)
	return c.JSON(http.StatusCreated, obj)
}

func (k kindHandlers) replace(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	obj, err := k.s.readObject(c, k.info)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	m := obj.GetObjectMeta()
	if err := matchPathNamespace(k.info, m, ns); err != nil {
		return aboutObject(err, k.info, name)
	}
	switch m.Name {
	case "":
		m.Name = name
	case name:
	default:
		return aboutObject(badField("metadata.name", "%q does not match the name in the path (%q)", m.Name, name), k.info, name)
	}
	if m.ResourceVersion != "" {
		if _, err := store.ParseResourceVersion(m.ResourceVersion); err != nil {
			return aboutObject(api.FieldErrors{{Field: "metadata.resourceVersion", Type: api.ErrTypeInvalid, Detail: err.Error()}}, k.info, name)
		}
	}
	api.SetDefaults(obj)
	ctx := c.Request().Context()
	stored, err := k.s.store.GetObject(ctx, k.info, ns, name)
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	sm := stored.GetObjectMeta()
	if m.UID != "" && m.UID != sm.UID {
		return aboutObject(fmt.Errorf("metadata.uid %q is not the stored object's (%q): it was deleted and created again: %w", m.UID, sm.UID, store.ErrConflict), k.info, name)
	}
	if m.ResourceVersion == "" {
		m.ResourceVersion = sm.ResourceVersion // an unconditional replace of what was read
	}
	m.UID, m.CreationTimestamp = sm.UID, sm.CreationTimestamp
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = sm.DeletionTimestamp, sm.DeletionGracePeriodSeconds
	copyStatus(obj, stored)
	if k.prepareUpdate != nil {
		if err := k.prepareUpdate(stored, obj); err != nil {
			return aboutObject(err, k.info, name)
		}
	}
	// metadata.generation is the store's to bump (UpdateObject does when
	// the spec changed).
	if err := api.Validate(obj); err != nil {
		return aboutObject(err, k.info, name)
	}
	if err := admission.AdmitHostPath(obj, stored, k.s.mayUseHostPath(c)); err != nil {
		return aboutObject(err, k.info, name)
	}
	if err := admission.AdmitUpdate(ctx, k.s.store, obj); err != nil {
		return aboutObject(err, k.info, name)
	}
	if err := k.s.writeStore(dry).UpdateObject(ctx, obj); err != nil {
		return aboutObject(err, k.info, name)
	}
	k.setTypeMeta(obj)
	if dry {
		k.s.log.Debug("replaced (dry run)", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name)
		return c.JSON(http.StatusOK, obj)
	}
	k.s.quotaWritten(ctx, obj)
	k.s.log.Info("replaced", "kind", k.info.Kind, "namespace", m.Namespace, "name", m.Name, "resourceVersion", m.ResourceVersion)
	k.setTypeMeta(obj)
	return c.JSON(http.StatusOK, obj)
}

// deleteNow deletes an object through admission.Delete (propagationPolicy
// Background, Foreground or Orphan; gracePeriodSeconds for pods) and
// returns its last state: gone, or marked when its deletion is not done.
func (k kindHandlers) deleteNow(c echo.Context) error {
	ns, name, err := pathObject(c)
	if err != nil {
		return err
	}
	grace, err := queryInt(c, "gracePeriodSeconds", 0)
	if err != nil {
		return err
	}
	policy := c.QueryParam("propagationPolicy")
	if err := admission.CheckPropagationPolicy(policy); err != nil {
		return badField("propagationPolicy", "%v", err)
	}
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	obj, err := admission.Delete(c.Request().Context(), k.s.writeStore(dry), k.info, ns, name, admission.DeleteOptions{PropagationPolicy: policy, GracePeriodSeconds: grace})
	if err != nil {
		return aboutObject(err, k.info, name)
	}
	if dry {
		k.s.log.Debug("deleted (dry run)", "kind", k.info.Kind, "namespace", ns, "name", name, "propagationPolicy", policy)
	} else {
		k.s.log.Info("deleted", "kind", k.info.Kind, "namespace", ns, "name", name, "propagationPolicy", policy)
	}
	k.setTypeMeta(obj)
	return c.JSON(http.StatusOK, obj)
}

func (k kindHandlers) setTypeMeta(obj api.Object) {
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = k.info.Kind, k.info.APIVersion()
}

// pathObject returns the namespace and name of the path.
func pathObject(c echo.Context) (string, string, error) {
	ns, err := pathNamespace(c)
	if err != nil {
		return "", "", err
	}
	name, err := pathName(c)
	if err != nil {
		return "", "", err
	}
	return ns, name, nil
}

// Request body media types.
const (
	mediaJSON = "application/json"
	mediaYAML = "application/yaml"
)

// readObject reads the request body, JSON or YAML by Content-Type, strictly
// into a new object of the path's kind.
func (s *Server) readObject(c echo.Context, info api.KindInfo) (api.Object, error) {
	mt := mediaType(c)
	switch mt {
	case mediaJSON, mediaYAML, "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		return nil, unsupportedMediaType("Content-Type %q is not supported: send the object as %s or %s", mt, mediaJSON, mediaYAML)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, badRequest("read the request body: %v", err)
	}
	if mt == mediaJSON && !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		msg := "invalid JSON"
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, &api.DecodeError{Reason: "InvalidJSON", Msg: msg}
	}
	obj := info.New()
	if err := api.DecodeInto(body, obj); err != nil {
		return nil, wrongKind(err, info)
	}
	return obj, nil
}

// wrongKind turns a kind or apiVersion mismatch found while decoding into
// a 400: the body is for another endpoint, not an invalid object of this
// kind. Other decode errors pass through.
func wrongKind(err error, info api.KindInfo) error {
	var fe api.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	for _, e := range fe {
		if e.Field == "kind" || e.Field == "apiVersion" {
			re := badRequest("the body is not a %s (apiVersion %s) as this path expects: %s", info.Kind, info.APIVersion(), fe.Error())
			for _, e := range fe {
				re.causes = append(re.causes, api.StatusCause{Type: e.Type, Field: e.Field, Message: e.Detail})
			}
			return re
		}
	}
	return err
}

// matchPathNamespace checks the body's namespace against the path's and
// fills it in when the body has none.
func matchPathNamespace(info api.KindInfo, m *api.ObjectMeta, ns string) error {
	if !info.Namespaced {
		return nil
	}
	switch m.Namespace {
	case "":
		m.Namespace = ns
	case ns:
	default:
		return badField("metadata.namespace", "%q does not match the namespace in the path (%q)", m.Namespace, ns)
	}
	return nil
}

// validateCreate validates a new object; with metadata.generateName and no
// name, it checks that the generated name will be valid.
func validateCreate(obj api.Object) error {
	m := obj.GetObjectMeta()
	if m.Name != "" || m.GenerateName == "" {
		return api.Validate(obj)
	}
	// The store appends five characters; probe with a name of that shape.
	m.Name = m.GenerateName + "bbbbb"
	err := api.Validate(obj)
	m.Name = ""
	var fe api.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	out := make(api.FieldErrors, 0, len(fe))
	for _, e := range fe {
		if e.Field == "metadata.name" {
			e = api.FieldError{Field: "metadata.generateName", Type: api.ErrTypeInvalid, Detail: fmt.Sprintf("%q with five characters appended must be a DNS label (at most 58 lowercase letters, digits and '-', starting with a letter or digit)", m.GenerateName)}
		}
		out = append(out, e)
	}
	return out
}

// Status and spec are reached by reflection so that the handlers work for
// every kind; all kinds name them Status and Spec.

func field(obj api.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return reflect.Value{}
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		return reflect.Value{}
	}
	return f
}

func clearStatus(obj api.Object) {
	if f := field(obj, "Status"); f.IsValid() {
		f.SetZero()
	}
}

func copyStatus(dst, src api.Object) {
	d, s := field(dst, "Status"), field(src, "Status")
	if d.IsValid() && s.IsValid() && d.Type() == s.Type() {
		d.Set(s)
	}
}

// quotaWritten makes a ResourceQuota written through this server visible
// to its own admission before the write is answered (read-your-writes): a
// client that creates a quota and then a pod finds the quota enforced.
// Other kinds return at once.
func (s *Server) quotaWritten(ctx context.Context, obj api.Object) {
	// Wait even before the cache has synced: once it has, admission
	// trusts it, and the quota must be in it by then.
	if _, ok := obj.(*api.ResourceQuota); !ok || !s.quotas.Started() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.quotas.WaitRevision(ctx, store.RevisionOf(obj)); err != nil {
		s.log.Warn("quota cache did not catch up with a write", "namespace", obj.GetObjectMeta().Namespace, "name", obj.GetObjectMeta().Name, "err", err)
	}
}
