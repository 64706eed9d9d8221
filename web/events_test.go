package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// record publishes an event about a pod (ns != "") or a node (ns == "").
func (a *testAPI) record(ns, name, reason, node string) {
	a.t.Helper()
	var obj api.Object = &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, UID: "uid-" + name, ResourceVersion: "7"}}
	if ns == "" {
		obj = &api.Node{ObjectMeta: api.ObjectMeta{Name: name, UID: "uid-" + name}}
	}
	if err := a.events.Record(obj, api.EventData{Reason: reason, Message: strings.ToLower(reason) + " " + name, Node: node}); err != nil {
		a.t.Fatal(err)
	}
}

type eventList struct {
	Kind     string            `json:"kind"`
	Metadata api.PagedListMeta `json:"metadata"`
	Items    []api.Event       `json:"items"`
}

func (a *testAPI) listEvents(path string) eventList {
	a.t.Helper()
	r := a.do(http.MethodGet, path, "", nil).want(a.t, http.StatusOK)
	var l eventList
	if err := json.Unmarshal(r.body, &l); err != nil {
		a.t.Fatalf("decode %s: %v", r.body, err)
	}
	return l
}

// waitEvents lists path until it holds n events: the stream stores a
// published event a moment after Record returns.
func (a *testAPI) waitEvents(path string, n int) eventList {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := a.listEvents(path)
		if len(l.Items) >= n || time.Now().After(deadline) {
			if len(l.Items) != n {
				a.t.Fatalf("%s: %d events, want %d: %s", path, len(l.Items), n, eventNames(l.Items))
			}
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eventNames(evs []api.Event) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.InvolvedObject.Name + ":" + e.Reason
	}
	return strings.Join(out, " ")
}

func recordFour(a *testAPI) {
	a.record("default", "web-1", "Scheduled", "n1")
	a.record("default", "web-2", "Failed", "n1")
	a.record("other", "x", "Created", "")
	a.record("", "n1", "NodeNotReady", "")
	a.waitEvents("/api/v1/events", 4)
}

func TestEventsAreKubernetesEventsBuiltFromTheStream(t *testing.T) {
	a := startTestAPI(t)
	recordFour(a)
	l := a.listEvents("/api/v1/namespaces/default/events")
	if l.Kind != "EventList" || eventNames(l.Items) != "web-1:Scheduled web-2:Failed n1:NodeNotReady" {
		t.Fatalf("default namespace: %s %s", l.Kind, eventNames(l.Items))
	}
	e := l.Items[0]
	rv, err := strconv.ParseUint(e.ResourceVersion, 10, 64)
	if err != nil || e.Kind != "Event" || e.APIVersion != "v1" || e.Namespace != "default" || e.UID == "" || !strings.HasPrefix(e.Name, "web-1.") || e.CreationTimestamp.IsZero() {
		t.Fatalf("event metadata: %+v %+v", e.TypeMeta, e.ObjectMeta)
	}
	want := api.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "web-1", UID: "uid-web-1", ResourceVersion: "7"}
	if e.InvolvedObject != want || e.Reason != "Scheduled" || e.Message != "scheduled web-1" || e.Type != api.EventNormal || e.Count != 1 {
		t.Fatalf("event: %+v", e)
	}
	if e.Source.Component != "skiff/controlplane" || e.Source.Host != "n1" || e.FirstTimestamp.IsZero() || !e.LastTimestamp.Equal(e.FirstTimestamp) || e.EventTime.IsZero() {
		t.Fatalf("event source and times: %+v", e)
	}
	if l.Items[1].Type != api.EventWarning || l.Items[2].Type != api.EventWarning || l.Items[2].InvolvedObject.Namespace != "" || l.Items[2].InvolvedObject.Kind != "Node" {
		t.Fatalf("warnings and the node's event: %+v", l.Items[1:])
	}
	if listRV, _ := strconv.ParseUint(l.Metadata.ResourceVersion, 10, 64); listRV < rv+3 {
		t.Fatalf("list resourceVersion %s, want at least the last event's sequence", l.Metadata.ResourceVersion)
	}
	// One event by name, in its namespace only.
	got := a.do(http.MethodGet, "/api/v1/namespaces/default/events/"+e.Name, "", nil).want(t, http.StatusOK)
	var one api.Event
	if err := json.Unmarshal(got.body, &one); err != nil || one.UID != e.UID || one.ResourceVersion != e.ResourceVersion || one.Kind != "Event" {
		t.Fatalf("GET %s: %s (%v)", e.Name, got.body, err)
	}
	for _, missing := range []string{"/api/v1/namespaces/other/events/" + e.Name, "/api/v1/namespaces/default/events/web-2." + strconv.FormatUint(rv, 16),
		"/api/v1/namespaces/default/events/web-1.ffffff", "/api/v1/namespaces/default/events/web-1", "/api/v1/namespaces/default/events/web-1.zz"} {
		st := a.do(http.MethodGet, missing, "", nil).want(t, http.StatusNotFound).status(t)
		if st.Details == nil || st.Details.Kind != "Event" {
			t.Errorf("GET %s: %+v", missing, st)
		}
	}
	// eventTime has microseconds, as metav1.MicroTime.
	r := a.do(http.MethodGet, "/api/v1/namespaces/other/events", "", nil).want(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"eventTime":"`) || !strings.Contains(string(r.body), `"involvedObject":{"apiVersion":"v1","kind":"Pod","namespace":"other","name":"x"`) {
		t.Fatalf("wire form: %s", r.body)
	}
}

func TestEventsFieldSelectorsAndLimit(t *testing.T) {
	a := startTestAPI(t)
	recordFour(a)
	tests := []struct {
		path, want string
	}{
		// As kubectl describe pod asks.
		{"/api/v1/namespaces/default/events?fieldSelector=" + url.QueryEscape("involvedObject.name=web-1,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=uid-web-1"), "web-1:Scheduled"},
		{"/api/v1/events?fieldSelector=" + url.QueryEscape("involvedObject.kind=Node,involvedObject.name=n1"), "n1:NodeNotReady"},
		{"/api/v1/events?fieldSelector=" + url.QueryEscape("involvedObject.namespace="), "n1:NodeNotReady"},
		{"/api/v1/namespaces/default/events?fieldSelector=" + url.QueryEscape("involvedObject.namespace=default"), "web-1:Scheduled web-2:Failed"},
		{"/api/v1/events?fieldSelector=type%3DWarning", "web-2:Failed n1:NodeNotReady"},
		{"/api/v1/events?fieldSelector=reason%3DCreated", "x:Created"},
		{"/api/v1/events?fieldSelector=" + url.QueryEscape("involvedObject.uid=nope"), ""},
		{"/api/v1/namespaces/default/events?fieldSelector=" + url.QueryEscape("involvedObject.namespace=other"), ""},
		{"/api/v1/events?fieldSelector=" + url.QueryEscape("involvedObject.kind=Gadget"), ""},
		{"/api/v1/events?limit=2", "x:Created n1:NodeNotReady"},
		// The newest matching event, though newer ones do not match.
		{"/api/v1/events?limit=1&fieldSelector=reason%3DCreated", "x:Created"},
		{"/api/v1/events?limit=1&fieldSelector=" + url.QueryEscape("involvedObject.namespace=default"), "web-2:Failed"},
		{"/api/v1/namespaces/default/events?limit=1", "n1:NodeNotReady"},
		{"/api/v1/events?labelSelector=app%3Dweb", ""}, // events have no labels
	}
	for _, tt := range tests {
		if got := eventNames(a.listEvents(tt.path).Items); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, bad := range []struct{ query, field string }{
		{"limit=5001", "limit"},
		{"continue=abc", "continue"},
		{"fieldSelector=spec.nodeName%3Dn1", "fieldSelector"},
		{"fieldSelector=" + url.QueryEscape(strings.Repeat("reason!=a,", 100)+"reason!=b"), "fieldSelector"},
	} {
		st := a.do(http.MethodGet, "/api/v1/events?"+bad.query, "", nil).want(t, http.StatusBadRequest).status(t)
		if st.Details == nil || st.Details.Causes[0].Field != bad.field {
			t.Errorf("%s: %+v, want a 400 about %s", bad.query, st, bad.field)
		}
	}
}

// watchedEvent reads the next event of an events watch.
func (w *watchStream) nextEvent() (api.WatchEventType, api.Event) {
	w.t.Helper()
	select {
	case f, ok := <-w.frames:
		if !ok {
			w.t.Fatal("watch stream ended")
		}
		var ev api.WatchEvent
		if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
			w.t.Fatalf("event %q: %v", f.data, err)
		}
		var e api.Event
		if err := json.Unmarshal(ev.Object, &e); err != nil {
			w.t.Fatalf("event object %s: %v", ev.Object, err)
		}
		return ev.Type, e
	case <-time.After(5 * time.Second):
		w.t.Fatal("no watch event within 5s")
	}
	return "", api.Event{}
}

func TestEventsWatchSendsPastThenNewEvents(t *testing.T) {
	a := startTestAPI(t)
	recordFour(a)
	w := a.openWatch("/api/v1/namespaces/default/events?watch=true&fieldSelector=type%3DWarning", nil)
	for _, want := range []string{"web-2:Failed", "n1:NodeNotReady"} {
		typ, e := w.nextEvent()
		if typ != api.WatchAdded || eventNames([]api.Event{e}) != want {
			t.Fatalf("%s %s, want ADDED %s", typ, eventNames([]api.Event{e}), want)
		}
	}
	typ, bm := w.nextEvent()
	if typ != api.WatchBookmark || bm.Annotations[api.InitialEventsEndAnnotation] != "true" || bm.Kind != "Event" {
		t.Fatalf("after the past events: %s %+v", typ, bm)
	}
	a.record("other", "y", "Failed", "")          // another namespace
	a.record("default", "web-1", "Running", "n1") // not a warning
	a.record("default", "web-1", "BackOff", "n1")
	typ, e := w.nextEvent()
	if typ != api.WatchAdded || eventNames([]api.Event{e}) != "web-1:BackOff" || e.ResourceVersion == "" {
		t.Fatalf("new event: %s %+v", typ, e)
	}

	// Resumed from a resourceVersion: only what came after, also as SSE
	// with Last-Event-ID.
	l := a.listEvents("/api/v1/events")
	mid := l.Items[len(l.Items)-2].ResourceVersion // before web-1:BackOff
	w2 := a.openWatch("/api/v1/events?watch=true&resourceVersion="+mid, nil)
	if typ, e := w2.nextEvent(); typ != api.WatchAdded || eventNames([]api.Event{e}) != "web-1:BackOff" {
		t.Fatalf("resumed watch: %s %s", typ, eventNames([]api.Event{e}))
	}
	w3 := a.openWatch("/api/v1/events?watch=true", http.Header{"Accept": {api.MediaEventStream}, api.LastEventIDHeader: {mid}})
	if typ, e := w3.nextEvent(); typ != api.WatchAdded || eventNames([]api.Event{e}) != "web-1:BackOff" {
		t.Fatalf("SSE watch from Last-Event-ID: %s %s", typ, eventNames([]api.Event{e}))
	}
	a.do(http.MethodGet, "/api/v1/events?watch=true&resourceVersion=99999", "", nil).want(t, http.StatusGone)
}

func TestEventsNeedOnlyAViewToken(t *testing.T) {
	a := startTestAPI(t)
	recordFour(a)
	viewAll := a.token("viewer", api.RoleView, "")
	viewOther := a.token("other-viewer", api.RoleView, "other")
	a.doAs(viewAll, http.MethodGet, "/api/v1/events", "", nil).want(t, http.StatusOK)
	a.doAs(viewOther, http.MethodGet, "/api/v1/namespaces/other/events", "", nil).want(t, http.StatusOK)
	a.doAs(viewOther, http.MethodGet, "/api/v1/namespaces/other/events?watch=true&timeoutSeconds=1", "", nil).want(t, http.StatusOK)
	a.doAs(viewOther, http.MethodGet, "/api/v1/namespaces/default/events", "", nil).want(t, http.StatusForbidden)
	a.doAs(viewOther, http.MethodGet, "/api/v1/events", "", nil).want(t, http.StatusForbidden)
	a.doAs("", http.MethodGet, "/api/v1/events", "", nil).want(t, http.StatusUnauthorized)
	// Events are read-only.
	a.do(http.MethodPost, "/api/v1/namespaces/default/events", "application/json", []byte(`{}`)).want(t, http.StatusMethodNotAllowed)
}

func TestEventsWithoutAStreamAre503(t *testing.T) {
	srv := New(Options{}, openTestStore(t), nil, nil, nil)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	res, err := http.Get(ts.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", res.StatusCode)
	}
}
