package web

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// listQuery is what a list or watch request asks for in its query string.
type listQuery struct {
	labels api.LabelMatcher
	fields api.FieldMatcher
	// limit caps a list page; 0 for no limit.
	limit int64
	// cont is the decoded continue token, nil for a first page.
	cont  *continueToken
	watch bool
	// resourceVersion is where a watch starts (changes after it); 0 for
	// "send every existing object first".
	resourceVersion uint64
	// bookmarks asks for periodic BOOKMARK events.
	bookmarks bool
	// timeoutSeconds ends a watch; 0 for none.
	timeoutSeconds int64
}

// matches reports whether obj passes the selectors.
func (q listQuery) matches(obj api.Object) bool {
	return q.labels.Matches(obj.GetObjectMeta().Labels) && q.fields.Matches(obj)
}

// parseListQuery reads the list and watch parameters, refusing any that
// do not parse with a 400 naming the parameter.
func (k kindHandlers) parseListQuery(c echo.Context, ns string) (listQuery, error) {
	var q listQuery
	var err error
	if q.labels, err = api.ParseLabelSelector(c.QueryParam(api.ParamLabelSelector)); err != nil {
		return q, badField(api.ParamLabelSelector, "%v", err)
	}
	if q.fields, err = api.ParseFieldSelector(c.QueryParam(api.ParamFieldSelector)); err != nil {
		return q, badField(api.ParamFieldSelector, "%v", err)
	}
	if err := q.fields.CheckKind(k.info); err != nil {
		return q, badField(api.ParamFieldSelector, "%v", err)
	}
	if q.watch, err = queryBool(c, api.ParamWatch); err != nil {
		return q, err
	}
	if q.bookmarks, err = queryBool(c, api.ParamAllowWatchBookmarks); err != nil {
		return q, err
	}
	limit, err := queryInt(c, api.ParamLimit, 0)
	if err != nil {
		return q, err
	}
	if limit != nil {
		q.limit = *limit
	}
	timeout, err := queryInt(c, api.ParamTimeoutSeconds, 0)
	if err != nil {
		return q, err
	}
	if timeout != nil {
		q.timeoutSeconds = *timeout
	}
	if rv := c.QueryParam(api.ParamResourceVersion); rv != "" && rv != "0" {
		n, err := store.ParseResourceVersion(rv)
		if err != nil {
			return q, badField(api.ParamResourceVersion, "%v", err)
		}
		q.resourceVersion = n
	}
	if tok := c.QueryParam(api.ParamContinue); tok != "" {
		switch {
		case q.watch:
			return q, badField(api.ParamContinue, "a watch does not take a continue token; watch from the list's resourceVersion instead")
		case q.resourceVersion != 0:
			return q, badField(api.ParamResourceVersion, "a resourceVersion cannot be given with a continue token: the token carries the list's")
		}
		ct, err := decodeContinue(tok, continueScope(k.info, ns))
		if err != nil {
			return q, badField(api.ParamContinue, "%v", err)
		}
		q.cont = &ct
	}
	return q, nil
}

// queryBool reads an optional boolean parameter ("true", "1", "false",
// "0"; absent is false).
func queryBool(c echo.Context, param string) (bool, error) {
	switch v := c.QueryParam(param); strings.ToLower(v) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, badField(param, "%q is not true or false", v)
	}
}

// continueToken is what a continue parameter carries: the list it belongs
// to, the resourceVersion of its first page and the last item sent. On the
// wire it is base64url JSON; clients treat it as opaque.
type continueToken struct {
	Version         int    `json:"v"`
	Scope           string `json:"s"`
	ResourceVersion uint64 `json:"rv"`
	Namespace       string `json:"ns,omitempty"`
	Name            string `json:"n"`
}

const continueTokenVersion = 1

// continueScope names the list a token belongs to: resource and
// namespace ("" for all).
func continueScope(info api.KindInfo, ns string) string {
	return info.Resource + "/" + ns
}

func encodeContinue(t continueToken) string {
	t.Version = continueTokenVersion
	b, _ := json.Marshal(t) // a struct of strings and numbers always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s, scope string) (continueToken, error) {
	const redo = "list again without it"
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return continueToken{}, fmt.Errorf("the token is not one this server issued (not base64url): %s", redo)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil || t.Version != continueTokenVersion || t.ResourceVersion == 0 || t.Name == "" {
		return continueToken{}, fmt.Errorf("the token is not one this server issued: %s", redo)
	}
	if t.Scope != scope {
		return continueToken{}, fmt.Errorf("the token belongs to another list (%s), not this one (%s): %s", t.Scope, scope, redo)
	}
	return t, nil
}

// after reports whether an object sorts after the token's last item.
func (t continueToken) after(m *api.ObjectMeta) bool {
	if m.Namespace != t.Namespace {
		return m.Namespace > t.Namespace
	}
	return m.Name > t.Name
}

// list answers a list request: the objects that pass the selectors, sorted
// by namespace and name, one page of at most limit of them. A later page
// (continue) shows the objects as they are now, after the previous page's
// last item, and keeps the first page's resourceVersion, so a watch from it
// misses nothing; objects created or deleted between pages may or may not
// appear, as in Kubernetes' inconsistent continuation.
func (k kindHandlers) listPage(c echo.Context, ns string, q listQuery) error {
	ctx := c.Request().Context()
	if q.cont != nil {
		if err := k.s.store.CheckRevision(ctx, q.cont.ResourceVersion); err != nil {
			return fmt.Errorf("the continue token is too old to continue the list; start a new list without it: %w", err)
		}
	}
	objs, rev, err := k.s.listSnapshot(ctx, k.info, ns)
	if err != nil {
		return err
	}
	if q.cont != nil {
		rev = q.cont.ResourceVersion
	}
	items := make([]api.Object, 0, len(objs))
	for _, o := range objs {
		if q.cont != nil && !q.cont.after(o.GetObjectMeta()) {
			continue
		}
		if !q.matches(o) {
			continue
		}
		k.setTypeMeta(o)
		items = append(items, o)
	}
	body := pagedListBody{
		APIVersion: k.info.APIVersion(),
		Kind:       api.ListKind(k.info),
		Items:      items,
	}
	if rev > 0 {
		body.Metadata.ResourceVersion = strconv.FormatUint(rev, 10)
	}
	if q.limit > 0 && int64(len(items)) > q.limit {
		remaining := int64(len(items)) - q.limit
		body.Items = items[:q.limit]
		last := body.Items[len(body.Items)-1].GetObjectMeta()
		body.Metadata.Continue = encodeContinue(continueToken{
			Scope: continueScope(k.info, ns), ResourceVersion: rev,
			Namespace: last.Namespace, Name: last.Name,
		})
		body.Metadata.RemainingItemCount = &remaining
	}
	return c.JSON(http.StatusOK, body)
}

// pagedListBody is a list response:
// {"apiVersion","kind":"PodList","metadata":{resourceVersion,continue,remainingItemCount},"items"}.
type pagedListBody struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   api.PagedListMeta `json:"metadata"`
	Items      []api.Object      `json:"items"`
}
