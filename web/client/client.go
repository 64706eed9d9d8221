package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// Client talks to one Skiff API server. It is safe for concurrent use.
type Client struct {
	server    string
	hc        *http.Client
	userAgent string
	token     string
	err       error // from an option; every request returns it
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc (timeouts, transports, tests).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithCA checks the server's certificate against the CA certificates in
// caPEM (the cluster CA) instead of the system's roots; empty changes
// nothing. PEM without a certificate makes every request fail, saying so.
func WithCA(caPEM []byte) Option {
	return func(c *Client) {
		if len(caPEM) == 0 {
			return
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			c.err = errors.New("the CA (client config or $SKIFF_CA) holds no PEM certificate")
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.hc = &http.Client{Transport: tr}
	}
}

// WithToken sends token as "Authorization: Bearer <token>" with every
// request; empty sends none.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client of the API at server ("http://127.0.0.1:8080"; a
// bare host:port means http).
func New(server string, opts ...Option) *Client {
	c := &Client{server: NormalizeServer(server), hc: http.DefaultClient, userAgent: "skiff-client"}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NormalizeServer adds https:// to a bare host:port and drops a trailing
// slash.
func NormalizeServer(server string) string {
	s := strings.TrimSpace(server)
	if s == "" {
		s = DefaultServer
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	return strings.TrimRight(s, "/")
}

// Server is the base URL the client talks to.
func (c *Client) Server() string { return c.server }

// DeleteOptions tune a delete.
type DeleteOptions struct {
	// GracePeriodSeconds overrides the pod's terminationGracePeriodSeconds;
	// 0 removes the pod at once without waiting for its node (force).
	GracePeriodSeconds *int64
	// PropagationPolicy says what becomes of the object's dependents:
	// Background (the default when empty), Foreground or Orphan.
	PropagationPolicy string
	// DryRun asks the server to check the delete as a real one (the
	// object exists, the caller may delete it) and answer with what would
	// happen to the object, deleting nothing (dryRun=All).
	DryRun bool
}

// WriteOption tunes a create, update or patch.
type WriteOption func(url.Values)

// DryRun makes a create, update or patch a dry run (dryRun=All): the
// server decodes, defaults, validates and admits the object as for a real
// write (quota, namespace, authorization) and answers with what it would
// store, writing nothing.
func DryRun() WriteOption {
	return func(q url.Values) { q.Set(api.ParamDryRun, api.DryRunAll) }
}

func writeQuery(opts []WriteOption) url.Values {
	if len(opts) == 0 {
		return nil
	}
	q := url.Values{}
	for _, o := range opts {
		o(q)
	}
	return q
}

// Healthz checks that the server answers.
func (c *Client) Healthz(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, api.HealthzPath, nil, "", nil)
	return err
}

// CreateObject creates obj, of any kind the server serves, and returns
// what was stored.
func (c *Client) CreateObject(ctx context.Context, obj api.Object, opts ...WriteOption) (api.Object, error) {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	out := info.New()
	return out, c.sendObject(ctx, http.MethodPost, api.ResourcePath(info, namespaceOf(info, m.Namespace), ""), writeQuery(opts), obj, out)
}

// GetObject reads one object.
func (c *Client) GetObject(ctx context.Context, info api.KindInfo, namespace, name string) (api.Object, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	out := info.New()
	body, err := c.do(ctx, http.MethodGet, api.ResourcePath(info, namespaceOf(info, namespace), name), nil, "", nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", info.Singular, name, err)
	}
	return out, nil
}

// List is one page of a kind's objects.
type List struct {
	// ResourceVersion is where a watch of the same objects starts to see
	// every change this list does not show (every page of a list has the
	// first page's).
	ResourceVersion string
	Items           []api.Object
	// Continue, when set, asks for the next page (ListOptions.Continue).
	Continue string
	// RemainingItemCount is how many items follow this page, when cut.
	RemainingItemCount *int64
}

// ListOptions narrow a list.
type ListOptions struct {
	// LabelSelector filters by labels: "app=web,tier!=db,env in (a,b),!legacy".
	LabelSelector string
	// FieldSelector filters by fields: "spec.nodeName=n1,status.phase=Running".
	FieldSelector string
	// Limit caps the items of one page (0: all); the List's Continue then
	// asks for the next.
	Limit int64
	// Continue is the previous page's List.Continue.
	Continue string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set(api.ParamLabelSelector, o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set(api.ParamFieldSelector, o.FieldSelector)
	}
	if o.Limit > 0 {
		q.Set(api.ParamLimit, strconv.FormatInt(o.Limit, 10))
	}
	if o.Continue != "" {
		q.Set(api.ParamContinue, o.Continue)
	}
	return q
}

// ListObjects lists a kind's objects in namespace ("" for all namespaces),
// narrowed by opts (at most one; none lists everything in one page). A
// selector the server cannot parse is a *StatusError naming the parameter;
// a continue token too old to continue is IsExpired.
func (c *Client) ListObjects(ctx context.Context, info api.KindInfo, namespace string, opts ...ListOptions) (List, error) {
	var o ListOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	body, err := c.do(ctx, http.MethodGet, api.ResourcePath(info, namespace, ""), o.query(), "", nil)
	if err != nil {
		return List{}, err
	}
	var raw struct {
		Metadata api.PagedListMeta `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return List{}, fmt.Errorf("decode %s list: %w", info.Resource, err)
	}
	out := List{
		ResourceVersion: raw.Metadata.ResourceVersion, Items: make([]api.Object, 0, len(raw.Items)),
		Continue: raw.Metadata.Continue, RemainingItemCount: raw.Metadata.RemainingItemCount,
	}
	for _, item := range raw.Items {
		obj := info.New()
		if err := json.Unmarshal(item, obj); err != nil {
			return List{}, fmt.Errorf("decode %s list item: %w", info.Resource, err)
		}
		out.Items = append(out.Items, obj)
	}
	return out, nil
}

// UpdateObject replaces obj. With metadata.resourceVersion set the server
// refuses a stale write (IsConflict).
func (c *Client) UpdateObject(ctx context.Context, obj api.Object, opts ...WriteOption) (api.Object, error) {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	if err := checkName(m.Name); err != nil {
		return nil, err
	}
	out := info.New()
	return out, c.sendObject(ctx, http.MethodPut, api.ResourcePath(info, namespaceOf(info, m.Namespace), m.Name), writeQuery(opts), obj, out)
}

// DeleteObject deletes an object and returns its last state (for a pod
// that runs on a node: the pod marked with its deletionTimestamp).
func (c *Client) DeleteObject(ctx context.Context, info api.KindInfo, namespace, name string, opts DeleteOptions) (api.Object, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts.GracePeriodSeconds != nil {
		q.Set("gracePeriodSeconds", strconv.FormatInt(*opts.GracePeriodSeconds, 10))
	}
	if opts.PropagationPolicy != "" {
		q.Set("propagationPolicy", opts.PropagationPolicy)
	}
	if opts.DryRun {
		q.Set(api.ParamDryRun, api.DryRunAll)
	}
	body, err := c.do(ctx, http.MethodDelete, api.ResourcePath(info, namespaceOf(info, namespace), name), q, "", nil)
	if err != nil {
		return nil, err
	}
	out := info.New()
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("decode deleted %s %s: %w", info.Singular, name, err)
	}
	return out, nil
}

// CreatePod creates a pod; an empty namespace means "default".
func (c *Client) CreatePod(ctx context.Context, pod *api.Pod) (*api.Pod, error) {
	return typed[*api.Pod](c.CreateObject(ctx, pod))
}

// GetPod reads a pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*api.Pod, error) {
	return typed[*api.Pod](c.GetObject(ctx, podKind(), namespace, name))
}

// ListPods lists the pods of a namespace, or of all with "", narrowed by
// opts (at most one); see ListObjects. With a Limit it returns one page:
// use ListObjects to read the continue token.
func (c *Client) ListPods(ctx context.Context, namespace string, opts ...ListOptions) ([]*api.Pod, error) {
	return typedList[*api.Pod](c.ListObjects(ctx, podKind(), namespace, opts...))
}

// UpdatePod replaces a pod; see UpdateObject.
func (c *Client) UpdatePod(ctx context.Context, pod *api.Pod) (*api.Pod, error) {
	return typed[*api.Pod](c.UpdateObject(ctx, pod))
}

// DeletePod deletes a pod; see DeleteObject.
func (c *Client) DeletePod(ctx context.Context, namespace, name string, opts DeleteOptions) (*api.Pod, error) {
	return typed[*api.Pod](c.DeleteObject(ctx, podKind(), namespace, name, opts))
}

// ListNodes lists the nodes.
func (c *Client) ListNodes(ctx context.Context) ([]*api.Node, error) {
	return typedList[*api.Node](c.ListObjects(ctx, nodeKind(), ""))
}

// GetNode reads a node.
func (c *Client) GetNode(ctx context.Context, name string) (*api.Node, error) {
	return typed[*api.Node](c.GetObject(ctx, nodeKind(), "", name))
}

// PodLogs reads a container's log. req.Container may be empty for a pod
// with one container; Namespace, Name, UID and SinceOffset of req are
// ignored. req.Previous reads the log of the run before the last restart.
func (c *Client) PodLogs(ctx context.Context, namespace, name string, req api.LogRequest) ([]byte, error) {
	path, q, err := logQuery(namespace, name, req)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, http.MethodGet, path, q, "", nil)
}

// FollowLogs streams a container's log as it grows (follow=true): the end
// of the log (req.TailLines of it, or all), then what the container writes,
// until the container terminates (the stream ends with io.EOF), ctx ends
// or the caller closes the stream. Errors before the stream starts (no
// such pod or container, node unreachable) are returned as PodLogs's are.
// The Client's http.Client must have no overall Timeout.
func (c *Client) FollowLogs(ctx context.Context, namespace, name string, req api.LogRequest) (io.ReadCloser, error) {
	path, q, err := logQuery(namespace, name, req)
	if err != nil {
		return nil, err
	}
	q.Set("follow", "true")
	res, err := c.send(ctx, http.MethodGet, path, q, "", nil)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

func logQuery(namespace, name string, req api.LogRequest) (string, url.Values, error) {
	if err := checkName(name); err != nil {
		return "", nil, err
	}
	q := url.Values{}
	if req.Previous {
		q.Set("previous", "true")
	}
	if req.Container != "" {
		q.Set("container", req.Container)
	}
	if req.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*req.TailLines, 10))
	}
	if req.LimitBytes > 0 {
		q.Set("limitBytes", strconv.FormatInt(req.LimitBytes, 10))
	}
	return api.ResourcePath(podKind(), namespaceOf(podKind(), namespace), name) + "/" + api.LogSubresource, q, nil
}

// UploadArtifact uploads a Wasm module and returns the image reference
// (skiff://artifacts/sha256:…) a Wasm pod runs it by.
func (c *Client) UploadArtifact(ctx context.Context, module io.Reader) (string, error) {
	body, err := c.do(ctx, http.MethodPost, api.ArtifactsPath, nil, "application/wasm", module)
	if err != nil {
		return "", err
	}
	var a api.Artifact
	if err := json.Unmarshal(body, &a); err != nil {
		return "", fmt.Errorf("decode upload answer: %w", err)
	}
	if a.Image == "" {
		return "", errors.New("the server's upload answer has no image reference")
	}
	return a.Image, nil
}

func podKind() api.KindInfo  { return api.KindOf(&api.Pod{}) }
func nodeKind() api.KindInfo { return api.KindOf(&api.Node{}) }

func namespaceOf(info api.KindInfo, ns string) string {
	if info.Namespaced && ns == "" {
		return api.DefaultNamespace
	}
	return ns
}

// checkName refuses names that would change the request path.
func checkName(name string) error {
	if name == "" {
		return errors.New("a name is required")
	}
	if strings.ContainsAny(name, "/?#%") || name == "." || name == ".." {
		return fmt.Errorf("%q is not a valid name", name)
	}
	return nil
}

func typed[T api.Object](obj api.Object, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("the server sent a %T, want %T", obj, zero)
	}
	return t, nil
}

func typedList[T api.Object](l List, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(l.Items))
	for _, o := range l.Items {
		t, ok := o.(T)
		if !ok {
			var zero T
			return nil, fmt.Errorf("the server sent a %T, want %T", o, zero)
		}
		out = append(out, t)
	}
	return out, nil
}

func (c *Client) sendObject(ctx context.Context, method, path string, query url.Values, obj, out api.Object) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %T: %w", obj, err)
	}
	body, err := c.do(ctx, method, path, query, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// maxErrorBody bounds how much of a non-Status error body is quoted.
const maxErrorBody = 512

// do sends one request and returns the body of a 2xx answer; any other
// answer is a *StatusError, and no answer a *ConnectionError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) ([]byte, error) {
	res, err := c.send(ctx, method, path, query, contentType, body)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, &ConnectionError{Server: c.server, Err: err}
	}
	return data, nil
}

// send sends one request and returns a 2xx response, whose body the caller
// closes; any other answer is a *StatusError, and no answer a
// *ConnectionError.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) (*http.Response, error) {
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	if c.err != nil {
		return nil, c.err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, u, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, &ConnectionError{Server: c.server, Err: err}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res, nil
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, &ConnectionError{Server: c.server, Err: err}
	}
	var st api.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(res.StatusCode)
		}
		return nil, &StatusError{Status: st}
	}
	// Not our server, or a proxy in between: keep what it said.
	msg := strings.Join(strings.Fields(string(data)), " ")
	if len(msg) > maxErrorBody {
		msg = msg[:maxErrorBody] + "…"
	}
	return nil, &StatusError{Status: api.Status{
		TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   api.StatusFailure,
		Code:     int32(res.StatusCode),
		Reason:   reasonForCode(res.StatusCode),
		Message:  fmt.Sprintf("%s %s: the server answered %s: %s", method, path, res.Status, msg),
	}}
}

func reasonForCode(code int) api.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return api.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return api.StatusReasonUnauthorized
	case http.StatusForbidden:
		return api.StatusReasonForbidden
	case http.StatusNotFound:
		return api.StatusReasonNotFound
	case http.StatusConflict:
		return api.StatusReasonConflict
	case http.StatusGone:
		return api.StatusReasonExpired
	case http.StatusUnprocessableEntity:
		return api.StatusReasonInvalid
	case http.StatusServiceUnavailable:
		return api.StatusReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		return api.StatusReasonTimeout
	}
	if code >= 500 {
		return api.StatusReasonInternalError
	}
	return api.StatusReasonUnknown
}
