package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// putPod stores a pod directly, with labels and a node and phase, as the
// scheduler and agents would leave it.
func (a *testAPI) putPod(ns, name string, labels map[string]string, node string, phase api.PodPhase) *api.Pod {
	a.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "main", Image: "nginx:1"}}}}
	api.SetDefaults(p)
	p.Status.Phase = phase
	if err := store.For[*api.Pod](a.store).Create(a.t.Context(), p); err != nil {
		a.t.Fatal(err)
	}
	return p
}

// mutatePod changes a stored pod and returns its new state.
func (a *testAPI) mutatePod(ns, name string, fn func(*api.Pod)) *api.Pod {
	a.t.Helper()
	p, err := store.For[*api.Pod](a.store).Mutate(a.t.Context(), ns, name, func(p *api.Pod) error { fn(p); return nil })
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

func (a *testAPI) deleteStoredPod(ns, name string) {
	a.t.Helper()
	if err := store.For[*api.Pod](a.store).Delete(a.t.Context(), ns, name, ""); err != nil {
		a.t.Fatal(err)
	}
}

type podList struct {
	Kind     string            `json:"kind"`
	Metadata api.PagedListMeta `json:"metadata"`
	Items    []api.Pod         `json:"items"`
}

func (a *testAPI) listPods(path string) podList {
	a.t.Helper()
	r := a.do(http.MethodGet, path, "", nil).want(a.t, http.StatusOK)
	var l podList
	if err := json.Unmarshal(r.body, &l); err != nil {
		a.t.Fatalf("decode list %s: %v", r.body, err)
	}
	return l
}

func names(pods []api.Pod) string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	return strings.Join(out, " ")
}

func TestListFiltersByLabelAndFieldSelectors(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "web-1", map[string]string{"app": "web", "tier": "front", "env": "a"}, "n1", api.PodRunning)
	a.putPod("default", "web-2", map[string]string{"app": "web", "tier": "front", "env": "b", "legacy": "yes"}, "n2", api.PodRunning)
	a.putPod("default", "db-1", map[string]string{"app": "db", "tier": "db", "env": "a"}, "n1", api.PodPending)
	a.putPod("default", "bare", nil, "", api.PodPending)
	a.putPod("other", "web-3", map[string]string{"app": "web", "env": "a"}, "n1", api.PodRunning)

	tests := []struct {
		name, query, want string
	}{
		{name: "equality", query: "labelSelector=app%3Dweb", want: "default/web-1 default/web-2"},
		{name: "the brief's selector", query: "labelSelector=" + url.QueryEscape("app=web,tier!=db,env in (a,b),!legacy,tier"), want: "default/web-1"},
		{name: "notin matches missing labels", query: "labelSelector=" + url.QueryEscape("env notin (b)"), want: "default/bare default/db-1 default/web-1"},
		{name: "node", query: "fieldSelector=spec.nodeName%3Dn1", want: "default/db-1 default/web-1"},
		{name: "phase and name", query: "fieldSelector=" + url.QueryEscape("status.phase=Running,metadata.name!=web-2"), want: "default/web-1"},
		{name: "unscheduled", query: "fieldSelector=" + url.QueryEscape("spec.nodeName="), want: "default/bare"},
		{name: "both", query: "labelSelector=tier%3Ddb&fieldSelector=status.phase%3DPending", want: "default/db-1"},
		{name: "namespace field", query: "fieldSelector=metadata.namespace%3Dother", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := a.listPods("/api/v1/namespaces/default/pods?" + tt.query)
			if got := names(l.Items); got != tt.want {
				t.Fatalf("items = %q, want %q", got, tt.want)
			}
		})
	}
	all := a.listPods("/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1")
	if got := names(all.Items); got != "default/web-1 other/web-3" {
		t.Fatalf("all namespaces = %q", got)
	}
}

func TestBadListParametersAre400NamingTheParameter(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "p", nil, "", api.PodPending)
	otherList := encodeContinue(continueToken{Scope: "pods/other", ResourceVersion: 1, Name: "p"})
	tests := []struct {
		name, query, wantField, wantInMessage string
	}{
		{name: "label selector", query: "labelSelector=" + url.QueryEscape("app=web,tier!=db!"), wantField: "labelSelector", wantInMessage: `"tier!=db!"`},
		{name: "label set", query: "labelSelector=" + url.QueryEscape("env in (a,b"), wantField: "labelSelector", wantInMessage: `"env in (a,b"`},
		{name: "label key", query: "labelSelector=" + url.QueryEscape("bad key=x"), wantField: "labelSelector", wantInMessage: `"bad key=x"`},
		{name: "field selector", query: "fieldSelector=status.phase", wantField: "fieldSelector", wantInMessage: `"status.phase"`},
		{name: "unsupported field", query: "fieldSelector=spec.image%3Dx", wantField: "fieldSelector", wantInMessage: "spec.image"},
		{name: "bad escape", query: "fieldSelector=" + url.QueryEscape(`metadata.name=a\x`), wantField: "fieldSelector", wantInMessage: "escape"},
		{name: "label selector too long", query: "labelSelector=" + url.QueryEscape("app="+strings.Repeat("a", api.MaxSelectorBytes)), wantField: "labelSelector", wantInMessage: "at most 10240"},
		{name: "label set too large on a watch", query: "watch=true&labelSelector=" + url.QueryEscape("app in ("+strings.Repeat("a,", api.MaxSelectorValues)+"a)"), wantField: "labelSelector", wantInMessage: "more than 1000 values"},
		{name: "too many field terms on a watch", query: "watch=true&fieldSelector=" + url.QueryEscape(strings.Repeat("metadata.name!=a,", api.MaxSelectorRequirements)+"metadata.name!=b"), wantField: "fieldSelector", wantInMessage: "more than 100 requirements"},
		{name: "field selector too long", query: "fieldSelector=" + url.QueryEscape("metadata.name="+strings.Repeat("a", api.MaxSelectorBytes)), wantField: "fieldSelector", wantInMessage: "at most 10240"},
		{name: "negative limit", query: "limit=-1", wantField: "limit"},
		{name: "limit not a number", query: "limit=ten", wantField: "limit"},
		{name: "garbled continue", query: "continue=%25%25%25", wantField: "continue", wantInMessage: "not one this server issued"},
		{name: "forged continue", query: "continue=" + url.QueryEscape("eyJ2Ijo5fQ"), wantField: "continue"},
		{name: "continue of another list", query: "continue=" + otherList, wantField: "continue", wantInMessage: "another list"},
		{name: "continue with a resourceVersion", query: "continue=" + otherList + "&resourceVersion=3", wantField: "resourceVersion"},
		{name: "watch not a bool", query: "watch=maybe", wantField: "watch"},
		{name: "resourceVersion not a number", query: "watch=true&resourceVersion=abc", wantField: "resourceVersion"},
		{name: "continue on a watch", query: "watch=true&continue=" + otherList, wantField: "continue"},
		{name: "sse not a bool", query: "watch=true&sse=yes", wantField: "sse"},
		{name: "timeout", query: "watch=true&timeoutSeconds=-1", wantField: "timeoutSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := a.do(http.MethodGet, "/api/v1/namespaces/default/pods?"+tt.query, "", nil).want(t, http.StatusBadRequest).status(t)
			if st.Reason != api.StatusReasonBadRequest || st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != tt.wantField {
				t.Fatalf("status = %+v, want a BadRequest about %s", st, tt.wantField)
			}
			if !strings.Contains(st.Message, tt.wantInMessage) || !strings.HasPrefix(st.Message, tt.wantField+": ") {
				t.Fatalf("message %q, want it to start with %q and name %q", st.Message, tt.wantField, tt.wantInMessage)
			}
		})
	}
}

func TestPagingThrough25PodsWithLimit10GivesEachOnce(t *testing.T) {
	a := startTestAPI(t)
	for i := range 25 {
		ns := "default"
		if i%5 == 0 {
			ns = "a-team" // sorts before default
		}
		a.putPod(ns, fmt.Sprintf("p-%02d", i), map[string]string{"app": "web"}, "", api.PodPending)
	}
	a.putPod("default", "other", map[string]string{"app": "db"}, "", api.PodPending)

	seen := map[string]int{}
	var order []string
	path := "/api/v1/pods?labelSelector=app%3Dweb&limit=10"
	var rv string
	wantRemaining := []int64{15, 5}
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("more than 3 pages")
		}
		l := a.listPods(path)
		if rv == "" {
			rv = l.Metadata.ResourceVersion
		} else if l.Metadata.ResourceVersion != rv {
			t.Fatalf("page %d resourceVersion %s, want the first page's %s", page, l.Metadata.ResourceVersion, rv)
		}
		for _, p := range l.Items {
			key := p.Namespace + "/" + p.Name
			seen[key]++
			order = append(order, key)
		}
		if l.Metadata.Continue == "" {
			if l.Metadata.RemainingItemCount != nil || len(l.Items) != 5 {
				t.Fatalf("last page: %d items, remaining %v", len(l.Items), l.Metadata.RemainingItemCount)
			}
			break
		}
		if len(l.Items) != 10 || l.Metadata.RemainingItemCount == nil || *l.Metadata.RemainingItemCount != wantRemaining[page] {
			t.Fatalf("page %d: %d items, remaining %v, want 10 and %d", page, len(l.Items), l.Metadata.RemainingItemCount, wantRemaining[page])
		}
		path = "/api/v1/pods?labelSelector=app%3Dweb&limit=10&continue=" + url.QueryEscape(l.Metadata.Continue)
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d distinct pods, want 25", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", k, n)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Fatalf("pages not in namespace/name order: %s before %s", order[i-1], order[i])
		}
	}
}

func TestContinueTokenOfACompactedListIsGone(t *testing.T) {
	a := startTestAPI(t)
	for i := range 3 {
		a.putPod("default", fmt.Sprintf("p-%d", i), nil, "", api.PodPending)
	}
	l := a.listPods("/api/v1/namespaces/default/pods?limit=1")
	if l.Metadata.Continue == "" {
		t.Fatal("no continue token")
	}
	// Rewriting every pod removes the revisions the token refers to.
	for range 2 {
		for i := range 3 {
			a.mutatePod("default", fmt.Sprintf("p-%d", i), func(p *api.Pod) { p.Labels = map[string]string{"v": p.ResourceVersion} })
		}
	}
	st := a.do(http.MethodGet, "/api/v1/namespaces/default/pods?limit=1&continue="+url.QueryEscape(l.Metadata.Continue), "", nil).want(t, http.StatusGone).status(t)
	if st.Reason != api.StatusReasonExpired || !strings.Contains(st.Message, "continue") {
		t.Fatalf("status = %+v", st)
	}
}

// watchStream reads a watch response: newline-delimited JSON events, or
// SSE frames.
type watchStream struct {
	t      *testing.T
	res    *http.Response
	cancel context.CancelFunc
	frames chan sseFrame
	done   chan struct{}
}

// sseFrame is one event: for SSE its id and data, for JSON lines the line
// as data.
type sseFrame struct {
	id, data string
}

func (a *testAPI) openWatch(path string, header http.Header) *watchStream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(a.t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+a.admin)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		a.t.Fatalf("watch %s: %v", path, err)
	}
	w := &watchStream{t: a.t, res: res, cancel: cancel, frames: make(chan sseFrame, 1024), done: make(chan struct{})}
	sse := strings.HasPrefix(res.Header.Get("Content-Type"), api.MediaEventStream)
	go func() {
		defer close(w.done)
		defer close(w.frames)
		sc := bufio.NewScanner(res.Body)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			if !sse {
				w.frames <- sseFrame{data: line}
				continue
			}
			switch {
			case line == "":
				if f.data != "" {
					w.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				f.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	a.t.Cleanup(w.close)
	return w
}

func (w *watchStream) close() {
	w.cancel()
	w.res.Body.Close()
	<-w.done
}

// event is a decoded watch event with its pod.
type event struct {
	typ api.WatchEventType
	pod api.Pod
	id  string
}

func (e event) String() string { return string(e.typ) + " " + e.pod.Name }

func (w *watchStream) next() event {
	w.t.Helper()
	ev, ok := w.tryNext()
	if !ok {
		w.t.Fatal("no watch event within 5s")
	}
	return ev
}

// tryNext is next without failing on a timeout (ok false).
func (w *watchStream) tryNext() (event, bool) {
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
		var p api.Pod
		if err := json.Unmarshal(ev.Object, &p); err != nil {
			w.t.Fatalf("event object %s: %v", ev.Object, err)
		}
		return event{typ: ev.Type, pod: p, id: f.id}, true
	case <-time.After(5 * time.Second):
		return event{}, false
	}
}

// expect reads events until it has len(want), skipping bookmarks, and
// compares them ("ADDED name").
func (w *watchStream) expect(want ...string) []event {
	w.t.Helper()
	var got []event
	var gotNames []string
	for len(got) < len(want) {
		ev, ok := w.tryNext()
		if !ok {
			w.t.Fatalf("no watch event within 5s; events = %v, want %v", gotNames, want)
		}
		if ev.typ == api.WatchBookmark {
			continue
		}
		got = append(got, ev)
		gotNames = append(gotNames, ev.String())
	}
	if strings.Join(gotNames, ", ") != strings.Join(want, ", ") {
		w.t.Fatalf("events = %v, want %v", gotNames, want)
	}
	return got
}

// expectNext checks that the next event (bookmarks aside) is want: after
// a write, it proves nothing else was pending.
func (w *watchStream) expectNext(want string) {
	w.t.Helper()
	w.expect(want)
}

func TestWatchWithoutResourceVersionSendsExistingObjectsThenChanges(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "b", nil, "", api.PodPending)
	a.putPod("default", "a", nil, "", api.PodPending)
	a.putPod("other", "elsewhere", nil, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true", nil)
	if ct := w.res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	w.expect("ADDED b", "ADDED a")
	bm := w.next()
	_, newest, _ := a.store.Revisions(t.Context())
	if bm.typ != api.WatchBookmark || bm.pod.Annotations[api.InitialEventsEndAnnotation] != "true" || bm.pod.ResourceVersion != strconv.FormatUint(newest, 10) {
		t.Fatalf("after the initial events: %s %+v, want the initial-events-end bookmark at %d", bm.typ, bm.pod.ObjectMeta, newest)
	}
	a.putPod("default", "c", nil, "", api.PodPending)
	a.mutatePod("default", "a", func(p *api.Pod) { p.Spec.NodeName = "n1" })
	a.deleteStoredPod("default", "b")
	got := w.expect("ADDED c", "MODIFIED a", "DELETED b")
	if got[1].pod.Spec.NodeName != "n1" || got[1].pod.Kind != "Pod" || got[1].pod.APIVersion != "v1" {
		t.Fatalf("modified object = %+v", got[1].pod)
	}
	if got[2].pod.UID == "" || got[2].pod.ResourceVersion == "" {
		t.Fatalf("DELETED must carry the last known object: %+v", got[2].pod.ObjectMeta)
	}
}

func TestWatchFromMidwayResourceVersionSeesExactlyTheLaterChangesInOrder(t *testing.T) {
	a := startTestAPI(t)
	for i := range 5 {
		a.putPod("default", fmt.Sprintf("p-%d", i), map[string]string{"app": "web"}, "", api.PodPending)
	}
	mid := a.listPods("/api/v1/namespaces/default/pods").Metadata.ResourceVersion
	a.putPod("default", "p-5", nil, "", api.PodPending)
	a.mutatePod("default", "p-1", func(p *api.Pod) { p.Status.Phase = api.PodRunning })
	a.deleteStoredPod("default", "p-2")
	a.putPod("other", "not-watched", nil, "", api.PodPending)
	a.mutatePod("default", "p-3", func(p *api.Pod) { p.Spec.NodeName = "n2" })

	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true&resourceVersion="+mid, nil)
	got := w.expect("MODIFIED p-5", "MODIFIED p-1", "DELETED p-2", "MODIFIED p-3")
	if got[1].pod.Status.Phase != api.PodRunning || got[3].pod.Spec.NodeName != "n2" {
		t.Fatalf("events do not carry the new states: %+v", got)
	}
	// p-2 was deleted before the watch began: the store keeps no state of
	// it, so the event names it and carries the deletion's resourceVersion.
	if got[2].pod.Namespace != "default" || got[2].pod.ResourceVersion == "" {
		t.Fatalf("DELETED p-2 = %+v", got[2].pod.ObjectMeta)
	}
	for i := 1; i < len(got); i++ {
		if rv(t, got[i-1].pod) >= rv(t, got[i].pod) {
			t.Fatalf("events out of resourceVersion order: %v", got)
		}
	}
	// An object unchanged since mid and deleted now: the watch knows its
	// last state from the list it seeded itself with.
	a.deleteStoredPod("default", "p-4")
	got = w.expect("DELETED p-4")
	if got[0].pod.Labels["app"] != "web" || got[0].pod.UID == "" {
		t.Fatalf("DELETED p-4 should carry its last state: %+v", got[0].pod.ObjectMeta)
	}
	// Nothing else is pending: the next write is the next event.
	a.putPod("default", "marker", nil, "", api.PodPending)
	w.expectNext("ADDED marker")
}

func rv(t *testing.T, p api.Pod) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(p.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", p.ResourceVersion, err)
	}
	return n
}

func TestWatchReconnectWithLastResourceVersionNeitherRepeatsNorMisses(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "keep", nil, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true", nil)
	w.expect("ADDED keep")
	a.putPod("default", "one", nil, "", api.PodPending)
	a.mutatePod("default", "keep", func(p *api.Pod) { p.Status.Phase = api.PodRunning })
	got := w.expect("ADDED one", "MODIFIED keep")
	last := got[len(got)-1].pod.ResourceVersion
	w.close()

	// While disconnected.
	a.putPod("default", "two", nil, "", api.PodPending)
	a.deleteStoredPod("default", "one")
	a.mutatePod("default", "keep", func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })

	w2 := a.openWatch("/api/v1/namespaces/default/pods?watch=true&resourceVersion="+last, nil)
	got = w2.expect("MODIFIED two", "DELETED one", "MODIFIED keep")
	if got[2].pod.Status.Phase != api.PodSucceeded || got[1].pod.ResourceVersion == "" {
		t.Fatalf("reconnect events = %+v", got)
	}
	a.putPod("default", "three", nil, "", api.PodPending)
	w2.expectNext("ADDED three")
}

func TestWatchSelectorsTurnTransitionsIntoAddedAndDeleted(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "x", map[string]string{"app": "db"}, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1", nil)
	// The bucket keeps one revision per key, so a write that replaces a key
	// before the watch's consumer has read the previous one removes that
	// one from the stream: the watch then sees only the newer state (see
	// store/watchfrom.go). Each transition under test therefore waits for
	// its event before the next write to the same key.
	a.mutatePod("default", "x", func(p *api.Pod) { p.Labels["app"] = "web" }) // labels match, node not yet
	a.mutatePod("default", "x", func(p *api.Pod) { p.Spec.NodeName = "n1" })  // now it matches
	added := w.expect("ADDED x")
	a.mutatePod("default", "x", func(p *api.Pod) { p.Status.Phase = api.PodRunning })
	modified := w.expect("MODIFIED x")
	a.mutatePod("default", "x", func(p *api.Pod) { p.Labels["app"] = "db" }) // no longer
	deleted := w.expect("DELETED x")
	if added[0].pod.Spec.NodeName != "n1" {
		t.Fatalf("ADDED x carries the state that matches: %+v", added[0].pod)
	}
	if deleted[0].pod.Labels["app"] != "web" || deleted[0].pod.Status.Phase != api.PodRunning {
		t.Fatalf("DELETED on leaving the selector carries the last matching state: %+v", deleted[0].pod)
	}
	if rv(t, deleted[0].pod) <= rv(t, modified[0].pod) {
		t.Fatalf("DELETED on leaving the selector has the change's resourceVersion: %s after %s", deleted[0].pod.ResourceVersion, modified[0].pod.ResourceVersion)
	}
	a.putPod("default", "y", map[string]string{"app": "web"}, "n1", api.PodPending)
	w.expect("ADDED y")
	a.deleteStoredPod("default", "y")
	w.expect("DELETED y")
	a.putPod("default", "z", map[string]string{"app": "db"}, "n1", api.PodPending)
	a.deleteStoredPod("default", "z") // never matched: no event, seen or not
	a.putPod("default", "end", map[string]string{"app": "web"}, "n1", api.PodPending)
	w.expectNext("ADDED end")
}

// A watch that reads a key only after it was written again sees the newer
// state alone; whatever it skipped, what it sends stays consistent: an
// object that was created and deleted before the watch read it is either
// ADDED then DELETED or not sent at all, never left ADDED.
func TestWatchThatSkipsOverwrittenStatesStaysConsistent(t *testing.T) {
	a := startTestAPI(t)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb", nil)
	const n = 20
	for i := range n {
		name := fmt.Sprintf("short-%d", i)
		a.putPod("default", name, map[string]string{"app": "web"}, "", api.PodPending)
		a.deleteStoredPod("default", name)
	}
	a.putPod("default", "end", map[string]string{"app": "web"}, "", api.PodPending)
	open := map[string]bool{}
	for {
		ev := w.next()
		if ev.typ == api.WatchBookmark {
			continue
		}
		if ev.pod.Name == "end" {
			if ev.typ != api.WatchAdded {
				t.Fatalf("%s end, want ADDED end", ev.typ)
			}
			break
		}
		switch ev.typ {
		case api.WatchAdded:
			open[ev.pod.Name] = true
		case api.WatchDeleted:
			delete(open, ev.pod.Name)
		default:
			t.Fatalf("unexpected %s", ev)
		}
	}
	if len(open) > 0 {
		t.Fatalf("deleted pods left ADDED on the watch: %v", open)
	}
}

func TestWatchAsServerSentEventsResumesFromLastEventID(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "a", nil, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true", http.Header{"Accept": {"text/event-stream"}})
	if ct := w.res.Header.Get("Content-Type"); ct != api.MediaEventStream || w.res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers = %v", w.res.Header)
	}
	got := w.expect("ADDED a")
	if got[0].id != got[0].pod.ResourceVersion {
		t.Fatalf("SSE id %q, want the resourceVersion %q", got[0].id, got[0].pod.ResourceVersion)
	}
	a.mutatePod("default", "a", func(p *api.Pod) { p.Spec.NodeName = "n1" })
	got = w.expect("MODIFIED a")
	lastID := got[0].id
	w.close()

	a.putPod("default", "b", nil, "", api.PodPending)
	// EventSource reconnects to the same URL with Last-Event-ID.
	w2 := a.openWatch("/api/v1/namespaces/default/pods?watch=true&sse=true", http.Header{api.LastEventIDHeader: {lastID}})
	got = w2.expect("MODIFIED b")
	if got[0].id != got[0].pod.ResourceVersion {
		t.Fatalf("id %q, resourceVersion %q", got[0].id, got[0].pod.ResourceVersion)
	}
}

func TestSSEFraming(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "a", nil, "", api.PodPending)
	// The token as EventSource sends it: in the query.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+"/api/v1/namespaces/default/pods?watch=true&sse=true&timeoutSeconds=1&access_token="+a.admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body) // the stream ends after timeoutSeconds
	if err != nil {
		t.Fatal(err)
	}
	frames := strings.Split(string(body), "\n\n")
	if frames[0] != "retry: 2000" {
		t.Fatalf("first frame %q, want the retry hint", frames[0])
	}
	lines := strings.Split(frames[1], "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], `data: {"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod"`) {
		t.Fatalf("event frame = %q", frames[1])
	}
	if !strings.HasPrefix(frames[2], "id: ") || !strings.Contains(frames[2], `"type":"BOOKMARK"`) {
		t.Fatalf("bookmark frame = %q", frames[2])
	}
	if frames[len(frames)-1] != "" {
		t.Fatalf("stream does not end on a frame boundary: %q", body)
	}
}

func TestWatchFromCompactedResourceVersionIsGone(t *testing.T) {
	a := startTestAPI(t)
	p := a.putPod("default", "a", nil, "", api.PodPending)
	old := p.ResourceVersion
	a.mutatePod("default", "a", func(p *api.Pod) { p.Status.Phase = api.PodRunning })
	a.mutatePod("default", "a", func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })
	for _, h := range []http.Header{nil, {"Accept": {"text/event-stream"}}} {
		r := a.do(http.MethodGet, "/api/v1/namespaces/default/pods?watch=true&resourceVersion="+old, "", nil)
		if h != nil {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+"/api/v1/namespaces/default/pods?watch=true&resourceVersion="+old, nil)
			req.Header = h
			req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+a.admin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			r = response{code: res.StatusCode, body: b}
		}
		st := r.want(t, http.StatusGone).status(t)
		if st.Reason != api.StatusReasonExpired || !strings.Contains(st.Message, "too old resourceVersion") {
			t.Fatalf("status = %+v", st)
		}
	}
	st := a.do(http.MethodGet, "/api/v1/namespaces/default/pods?watch=true&resourceVersion=999999", "", nil).want(t, http.StatusGone).status(t)
	if st.Reason != api.StatusReasonExpired {
		t.Fatalf("future resourceVersion: %+v", st)
	}
}

func TestWatchSendsBookmarksWhenAsked(t *testing.T) {
	a := startTestAPI(t, func(o *Options) { o.WatchBookmarkInterval = 50 * time.Millisecond })
	a.putPod("default", "a", map[string]string{"app": "web"}, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&labelSelector=app%3Dweb", nil)
	w.expect("ADDED a")
	if ev := w.next(); ev.typ != api.WatchBookmark {
		t.Fatalf("want the initial-events-end bookmark, got %s", ev)
	}
	// A change the selector hides still moves the resourceVersion a
	// resumed watch can start from.
	hidden := a.putPod("default", "hidden", nil, "", api.PodPending)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := w.next()
		if ev.typ != api.WatchBookmark {
			t.Fatalf("unexpected %s", ev)
		}
		if ev.pod.ResourceVersion == hidden.ResourceVersion {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no bookmark at the hidden change's resourceVersion")
		}
	}
}

func TestShutdownEndsOpenWatches(t *testing.T) {
	a := startTestAPI(t)
	a.putPod("default", "a", nil, "", api.PodPending)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true", nil)
	w.expect("ADDED a")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open watch: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	select {
	case <-w.done:
	case <-time.After(3 * time.Second):
		t.Fatal("the watch stream did not end")
	}
}

func TestWatchOfNodesIsClusterScoped(t *testing.T) {
	a := startTestAPI(t)
	if err := store.For[*api.Node](a.store).Create(t.Context(), &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}); err != nil {
		t.Fatal(err)
	}
	w := a.openWatch("/api/v1/nodes?watch=true&fieldSelector=spec.unschedulable%3Dfalse", nil)
	ev := w.next()
	if ev.typ != api.WatchAdded || ev.pod.Name != "edge-1" || ev.pod.Kind != "Node" {
		t.Fatalf("event = %s %+v", ev.typ, ev.pod.TypeMeta)
	}
}
