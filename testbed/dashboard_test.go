package testbed_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/ui"
)

// The dashboard tests drive Debian's Chromium headless through chromedp
// against in-process clusters. Screenshots go to $SKIFF_ARTIFACTS/<test>/
// (or a temporary directory), and the path is logged.

// chromiumPath finds the browser: missing, the tests fail under CI and are
// skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is missing: install it with `go tool task deps:chromium` (as root: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// clusterSPKI verifies the cluster's API certificate against the cluster
// CA, as a user who imported the CA would, and returns the hash of its key
// for the browser's --ignore-certificate-errors-spki-list.
func clusterSPKI(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	u, err := url.Parse(c.Server.API.URL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: c.Server.CA.Pool(), ServerName: u.Hostname()})
	if err != nil {
		t.Fatalf("the API's certificate does not verify against the cluster CA: %v", err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// dashboardToken is the token the browser signs in with: the cluster's
// admin token.
func dashboardToken(c *testbed.Cluster) string { return c.Token }

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
	shots     int

	mu         sync.Mutex
	exceptions []string
}

// newBrowser starts a browser for the page at base. trustedSPKI are the
// base64 SHA-256 hashes of server keys the browser accepts beyond its own
// roots (clusterSPKI): the browser does not know the cluster CA.
func newBrowser(t *testing.T, base string, trustedSPKI ...string) *browser {
	t.Helper()
	exe := chromiumPath(t)
	dir := os.Getenv("SKIFF_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots: %s", dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(trustedSPKI, ",")),
	)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base, artifacts: dir}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Every uncaught exception in the page fails the test.
	err := chromedp.Listen(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok && ex.ExceptionDetails != nil {
			d := ex.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, text))
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return b
}

// do runs actions with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into T.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 25*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		b.fail("waiting for %s (%s): %v", what, cond, err)
	}
}

// fail saves a screenshot and the visible text of the page, then stops
// the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.screenshot("failure")
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	b.t.Fatalf(format+"\npage text:\n%s", append(args, text)...)
}

// screenshot saves the whole page as NN-name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shots++
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
}

// signIn opens the dashboard and signs in with token.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do("open the dashboard", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.screenshot("login")
	// Keyboard: the first Tab reaches the skip link, with a visible focus ring.
	b.do("tab", chromedp.KeyEvent(kb.Tab))
	if got := evalJS[string](b, `document.activeElement.textContent.trim() + "|" + getComputedStyle(document.activeElement).outlineStyle`); got != "Skip to content|solid" {
		b.fail("the first Tab focused %q, want the skip link with a solid outline", got)
	}
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("view-overview")))
	if got := evalJS[string](b, `sessionStorage.getItem("skiff.token")`); got != token {
		b.fail("the token kept in sessionStorage is %q, want %q", got, token)
	}
}

// goTo follows a navigation link, as a user would.
func (b *browser) goTo(route string) {
	b.t.Helper()
	b.do("go to "+route,
		chromedp.Click(chromedp.CSS(`nav a[data-route="`+route+`"]`)),
		chromedp.WaitVisible(chromedp.ID("view-"+route)))
}

// text is an element's text, "" when it does not exist.
func (b *browser) text(selector string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector))
}

// js quotes a Go string as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// textIs is a condition: the element's trimmed text equals want.
func textIs(selector, want string) string {
	return fmt.Sprintf(`((document.querySelector(%s) || {}).textContent || "").trim() === %s`, js(selector), js(want))
}

// textHas is a condition: the element's text contains want.
func textHas(selector, want string) string {
	return fmt.Sprintf(`((document.querySelector(%s) || {}).textContent || "").includes(%s)`, js(selector), js(want))
}

// accessibilityProblems lists, for the visible page: form controls
// without a label, buttons without a name, missing landmarks, and text
// whose contrast with its background is under 4.5:1 (3:1 for large text).
const accessibilityProblems = `(() => {
  const out = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    if (el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")) out.push("no label: #" + el.id);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (visible(el) && !el.textContent.trim() && !el.getAttribute("aria-label")) out.push("no accessible name: " + el.outerHTML.slice(0, 80));
  }
  if (!document.querySelector("header")) out.push("no banner landmark (header)");
  if (!document.querySelector("nav[aria-label]")) out.push("no labelled navigation landmark");
  if (!document.querySelector("main")) out.push("no main landmark");
  const rgba = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el) || el.closest("[hidden]") || el.disabled) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const cs = getComputedStyle(el);
    const fg = rgba(cs.color);
    const bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push("contrast " + ratio.toFixed(2) + ": <" + el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "> " + el.textContent.trim().slice(0, 40));
  }
  return out;
})()`

func (b *browser) checkAccessibility(where string) {
	b.t.Helper()
	if problems := evalJS[[]string](b, accessibilityProblems); len(problems) > 0 {
		b.screenshot("a11y-" + where)
		b.t.Errorf("accessibility problems on %s:\n  %s", where, strings.Join(problems, "\n  "))
	}
}

// checkNoSidewaysScroll sets a tablet's width and checks that the page
// fits it.
func (b *browser) checkNoSidewaysScroll(where string) {
	b.t.Helper()
	b.do("tablet width", chromedp.EmulateViewport(768, 1024))
	b.waitFor("layout at 768px", `window.innerWidth === 768`)
	if over := evalJS[int](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		b.screenshot("overflow-" + where)
		b.t.Errorf("%s at 768px scrolls sideways by %dpx", where, over)
	}
	b.screenshot(where + "-768px")
	b.do("laptop width", chromedp.EmulateViewport(1280, 900))
}

// TestDashboardFollowsTheClusterLiveAndActsOnIt signs in, watches a pod
// created through the API appear without a reload, scales and rolls back a
// Deployment from the page, deletes it, and shows the field error of a bad
// manifest next to the document that caused it.
func TestDashboardFollowsTheClusterLiveAndActsOnIt(t *testing.T) {
	t.Parallel()
	c := startHollowCluster(t, 2)
	ctx := context.Background()
	b := newBrowser(t, c.Server.API.URL(), clusterSPKI(t, c))

	// A token the cluster did not issue: the server's 401 message shows.
	b.do("open the dashboard", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.do("sign in with a forged token",
		chromedp.SendKeys(chromedp.ID("token"), "forged-token"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.waitFor("the server's refusal", textHas("#login-error", "the bearer token is not valid"))

	b.signIn(dashboardToken(c))
	b.waitFor("two Ready nodes in the overview",
		`[...document.querySelectorAll("#ov-nodes tbody tr")].reduce((n, tr) => n + Number(tr.cells[1].textContent), 0) === 2`)
	b.waitFor("the connection to be live", textIs("#connection", "Live"))
	b.screenshot("overview")
	b.checkAccessibility("overview")
	if got := evalJS[string](b, `document.activeElement.id`); got != "overview-h" {
		b.fail("after signing in, focus is on #%s, want the view's heading", got)
	}

	// A pod created through the API appears live: no reload (the marker
	// survives), no polling (the page lists once and watches). The Pods
	// link is followed with the keyboard.
	b.do("go to pods with the keyboard",
		chromedp.Focus(chromedp.CSS(`nav a[data-route="pods"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("view-pods")))
	if got := evalJS[string](b, `document.activeElement.id`); got != "pods-h" {
		b.fail("after following the Pods link, focus is on #%s, want the view's heading", got)
	}
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "live-1", Namespace: "default"},
		Spec:       api.PodSpec{RuntimeClassName: api.RuntimeClassWasm, Containers: []api.Container{{Name: "app", Image: "file:///opt/app.wasm"}}},
	}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	row := `#pods-table tr[data-key="default/live-1"]`
	b.waitFor("the new pod's row", fmt.Sprintf(`!!document.querySelector(%s)`, js(row)))
	b.waitFor("the pod Running", textIs(row+` td[data-label="Status"]`, "Running"))
	if got := b.text(row + ` td[data-label="Runtime"]`); got != "Wasm" {
		b.fail("runtime column %q, want Wasm", got)
	}
	if !evalJS[bool](b, `window.__sameDocument === true`) {
		b.fail("the page reloaded to show the pod")
	}
	b.waitFor("the pod in the events feed", `!!document.querySelector('#events-feed li[data-name="default/live-1"]')`)
	b.screenshot("pod-live")
	b.checkAccessibility("pods")
	b.checkNoSidewaysScroll("pods")

	// Scale a Deployment from the page.
	d := webDeployment(1, "v1")
	if _, err := c.Client.CreateObject(ctx, d); err != nil {
		t.Fatal(err)
	}
	b.goTo("workloads")
	depRow := `#deployments-table tr[data-key="default/web"]`
	b.waitFor("the Deployment's row", textHas(depRow+` td[data-label="Rollout"]`, "1 available of 1"))
	b.checkNoSidewaysScroll("workloads")
	b.do("open the Deployment", chromedp.Click(chromedp.CSS(depRow+" th a")), chromedp.WaitVisible(chromedp.ID("scale-form")))
	b.waitFor("the current replicas in the form", `document.getElementById("scale-replicas").value === "1"`)
	b.do("scale to 3",
		chromedp.SetValue(chromedp.ID("scale-replicas"), ""),
		chromedp.SendKeys(chromedp.ID("scale-replicas"), "3"),
		chromedp.Click(chromedp.CSS(`#scale-form button[type=submit]`)))
	b.waitFor("the scale confirmation", textIs("#scale-result", "Scaled to 3 replicas."))
	b.waitFor("3 desired replicas", textIs(`#object-summary dd[data-field="Desired replicas"]`, "3"))
	b.waitFor("3 available replicas", textIs(`#object-summary dd[data-field="Available"]`, "3"))
	got, err := c.Client.GetObject(ctx, api.KindOf(d), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if r := got.(*api.Deployment).Spec.Replicas; r == nil || *r != 3 {
		t.Fatalf("the API has spec.replicas %v after scaling from the page, want 3", r)
	}
	b.waitFor("the scale in the events feed", `[...document.querySelectorAll('#events-feed li[data-name="default/web"]')].some((li) => li.textContent.includes("scaled 1 → 3"))`)
	b.screenshot("scaled")

	// Roll back to revision 1 after a new template went out.
	dep := got.(*api.Deployment)
	dep.Spec.Template.Spec.Containers[0].Image = "registry.local/web:2"
	if _, err := c.Client.UpdateObject(ctx, dep); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the new image in the summary", textIs(`#object-summary dd[data-field="Images"]`, "registry.local/web:2"))
	b.waitFor("revision 1 to roll back to", `[...document.querySelectorAll("#rollback-revision option")].some((o) => o.value === "1")`)
	b.do("roll back to revision 1",
		chromedp.SetValue(chromedp.ID("rollback-revision"), "1"),
		chromedp.Click(chromedp.CSS(`#rollback-form button[type=submit]`)))
	b.waitFor("the rollback confirmation", textIs("#rollback-result", "Rolling back to revision 1."))
	b.waitFor("the old image back", textIs(`#object-summary dd[data-field="Images"]`, "registry.local/web:1"))
	b.waitFor("the rollout complete", textIs(`#object-summary dd[data-field="Rollout"]`, "Complete"))
	b.screenshot("rolled-back")
	b.checkAccessibility("deployment")

	// Delete it, confirmed in place.
	b.do("ask to delete the Deployment",
		chromedp.Click(chromedp.ID("delete-start")),
		chromedp.WaitVisible(chromedp.ID("delete-yes")))
	if !evalJS[bool](b, `document.getElementById("delete-start").getClientRects().length === 0`) {
		b.fail("the Delete button stays visible beside its confirmation")
	}
	b.do("confirm", chromedp.Click(chromedp.ID("delete-yes")))
	b.waitFor("the delete confirmation", textHas("#delete-result", "web deleted"))
	b.waitFor("the Deployment gone", textHas("#object-missing", "does not exist"))

	// A bad manifest: the good document is created, the bad one shows the
	// server's field error beside it.
	b.goTo("apply")
	manifest := `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: edge
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: 1
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
      - name: app
`
	b.do("apply a manifest with a bad document",
		chromedp.SetValue(chromedp.ID("manifest"), manifest),
		chromedp.Click(chromedp.CSS(`#apply-form button[type=submit]`)))
	b.waitFor("the first document created", textIs(`#apply-results li[data-doc="1"]`, "Document 1: ConfigMap default/settings created."))
	b.waitFor("the field error of the second", textHas(`#apply-results li[data-doc="2"].failed`, "spec.template.spec.containers[0].image"))
	b.waitFor("the summary", textIs("#apply-status", "1 of 2 documents applied; 1 failed."))
	b.screenshot("apply-field-error")
	b.checkAccessibility("apply")
	if _, err := c.Client.GetObject(ctx, api.KindOf(&api.ConfigMap{}), "default", "settings"); err != nil {
		t.Fatalf("the ConfigMap the page applied: %v", err)
	}

	// A pod in CrashLoopBackOff has phase Running; the overview counts it
	// as failing, not as running. Its status is written as its agent
	// writes it.
	b.goTo("overview")
	b.waitFor("no failing pod yet", textIs(`#ov-phases dd[data-count="Failing"]`, "0"))
	if _, err := store.For[*api.Pod](c.Server.Store).Mutate(ctx, "default", "live-1", func(p *api.Pod) error {
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "app", RestartCount: 3,
			State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the crashing pod counted as failing", textIs(`#ov-phases dd[data-count="Failing"]`, "1"))
	b.screenshot("overview-failing")
}

// TestDashboardFollowsAPodsLogLive runs a real Wasm module that ticks and
// watches its log grow in the page.
func TestDashboardFollowsAPodsLogLive(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	ctx := context.Background()
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "ticker", Namespace: "default"},
		Spec:       api.PodSpec{RuntimeClassName: api.RuntimeClassWasm, Containers: []api.Container{{Name: "tick", Image: image, Args: []string{"forever"}}}},
	}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "ticker", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })

	b := newBrowser(t, c.Server.API.URL(), clusterSPKI(t, c))
	b.signIn(dashboardToken(c))
	b.goTo("pods")
	b.do("open the pod's log",
		chromedp.Click(chromedp.CSS(`#pods-table tr[data-key="default/ticker"] td[data-label="Log"] a`)),
		chromedp.WaitVisible(chromedp.ID("view-logs")))
	b.waitFor("ticks in the log", textHas("#logs-output", "tick "))
	first := lastTick(b)
	b.waitFor("the log to grow", fmt.Sprintf(`(() => { const m = [...document.getElementById("logs-output").textContent.matchAll(/tick (\d+)/g)]; return m.length > 0 && Number(m[m.length - 1][1]) >= %d; })()`, first+5))
	b.screenshot("log-following")
	b.checkAccessibility("log")

	// Paused, it stops reading.
	b.do("pause", chromedp.Click(chromedp.ID("logs-follow")))
	b.waitFor("paused", textIs("#logs-status", "Paused."))
	paused := lastTick(b)
	// Longer than one refresh interval of the page (1s); nothing can be
	// awaited for something that must not happen.
	b.do("let the module tick", chromedp.Sleep(1500*time.Millisecond))
	if got := lastTick(b); got != paused {
		t.Fatalf("the paused log moved from tick %d to %d", paused, got)
	}
}

var tickRE = regexp.MustCompile(`tick (\d+)`)

func lastTick(b *browser) int {
	b.t.Helper()
	m := tickRE.FindAllStringSubmatch(b.text("#logs-output"), -1)
	if len(m) == 0 {
		b.fail("no tick in the log")
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// TestDashboardSignsOutWhenTheAPIRefusesTheToken serves the dashboard with
// a fake API that takes a token until it is revoked: the page sends the
// token as a bearer header and, on EventSource URLs, as access_token; a 401
// at sign-in, or later on a watch, shows the sign-in form with the
// server's message.
func TestDashboardSignsOutWhenTheAPIRefusesTheToken(t *testing.T) {
	t.Parallel()
	fake := newFakeAuthAPI()
	srv := httptest.NewServer(fake.handler())
	t.Cleanup(func() {
		fake.revoke()
		srv.Close()
	})
	b := newBrowser(t, srv.URL)

	// A wrong token: the form says why.
	b.do("open", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.do("sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "wrong"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.waitFor("the refusal", textHas("#login-error", "token is not valid"))
	if got := evalJS[string](b, `document.getElementById("token").getAttribute("aria-invalid")`); got != "true" {
		b.fail("the token field is not marked invalid (aria-invalid %q)", got)
	}
	b.screenshot("refused")

	// The right token: in, with the watches carrying it. It is a view
	// token of namespace team-a: the page starts there, names the token,
	// and disables what it may not do.
	b.signIn("good")
	b.waitFor("the connection to be live", textIs("#connection", "Live"))
	if !fake.sawBearer("good") || !fake.sawWatchToken("good") {
		t.Fatalf("the API saw bearer tokens %v and watch tokens %v, want %q in both", fake.bearers(), fake.watchTokens(), "good")
	}
	b.waitFor("the token named", textIs("#identity", "viewer (view in team-a)"))
	if got := evalJS[string](b, `document.getElementById("namespace").value`); got != "team-a" {
		b.fail("the namespace field is %q, want the token's namespace team-a", got)
	}
	err := testbed.Poll(context.Background(), 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		return fake.watched("/api/v1/namespaces/team-a/pods"), nil
	})
	if err != nil {
		t.Fatalf("the page watched %v, want the pods of team-a: %v", fake.watchPaths(), err)
	}
	b.goTo("apply")
	if !evalJS[bool](b, `document.querySelector("#apply-form button[type=submit]").disabled`) {
		b.fail("a view token can press Apply")
	}
	b.waitFor("the read-only note", textHas("#view-apply .readonly-note", "view role"))
	b.checkAccessibility("read-only apply")
	b.screenshot("view-token")

	// Revoked while signed in: the streams end, the reconnection gets 401,
	// and the page asks for a token again.
	fake.revoke()
	b.waitFor("the sign-in form again", `!document.getElementById("view-login").hidden`)
	b.waitFor("the server's message", textHas("#login-error", "token was revoked"))
	if got := evalJS[string](b, `sessionStorage.getItem("skiff.token") || ""`); got != "" {
		b.fail("the refused token is still kept: %q", got)
	}
	if !evalJS[bool](b, `document.getElementById("session").getClientRects().length === 0 && document.getElementById("nav").getClientRects().length === 0`) {
		b.fail("the signed-in controls stay visible on the sign-in form")
	}
	b.screenshot("revoked")
}

// fakeAuthAPI answers list and watch requests for any kind when the token
// is "good" and not revoked, and 401 otherwise.
type fakeAuthAPI struct {
	mu      sync.Mutex
	seen    []string // Authorization headers
	watches []string // access_token parameters
	paths   []string // paths watched
	revoked chan struct{}
	once    sync.Once
}

func newFakeAuthAPI() *fakeAuthAPI { return &fakeAuthAPI{revoked: make(chan struct{})} }

func (f *fakeAuthAPI) revoke() { f.once.Do(func() { close(f.revoked) }) }

func (f *fakeAuthAPI) isRevoked() bool {
	select {
	case <-f.revoked:
		return true
	default:
		return false
	}
}

func (f *fakeAuthAPI) handler() http.Handler {
	e := echo.New()
	ui.Register(e)
	h := func(c echo.Context) error {
		req := c.Request()
		watch := c.QueryParam("watch") == "true"
		token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.seen = append(f.seen, req.Header.Get("Authorization"))
		if watch && c.QueryParam("sse") == "true" {
			token = c.QueryParam("access_token")
			f.watches = append(f.watches, token)
			f.paths = append(f.paths, req.URL.Path)
		}
		f.mu.Unlock()
		switch {
		case f.isRevoked():
			return unauthorized(c, "the token was revoked; sign in with a new one")
		case token != "good":
			return unauthorized(c, "the token is not valid")
		case req.URL.Path == api.WhoAmIPath:
			return c.JSON(http.StatusOK, api.Token{TypeMeta: api.TypeMeta{Kind: "Token", APIVersion: "v1"}, Name: "viewer", Role: api.RoleView, Namespace: "team-a"})
		case !watch:
			return c.JSON(http.StatusOK, map[string]any{"kind": "List", "metadata": map[string]string{"resourceVersion": "7"}, "items": []any{}})
		}
		w := c.Response()
		w.Header().Set("Content-Type", api.MediaEventStream)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("retry: 100\n\n"))
		w.Flush()
		select {
		case <-req.Context().Done():
		case <-f.revoked:
		}
		return nil
	}
	e.GET("/api/*", h)
	e.GET("/apis/*", h)
	return e
}

func unauthorized(c echo.Context, msg string) error {
	return c.JSON(http.StatusUnauthorized, api.Status{
		TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   api.StatusFailure, Message: msg, Reason: "Unauthorized", Code: http.StatusUnauthorized,
	})
}

func (f *fakeAuthAPI) bearers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeAuthAPI) watchTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.watches...)
}

func (f *fakeAuthAPI) watchPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func (f *fakeAuthAPI) watched(path string) bool {
	for _, p := range f.watchPaths() {
		if p == path {
			return true
		}
	}
	return false
}

func (f *fakeAuthAPI) sawBearer(token string) bool {
	for _, h := range f.bearers() {
		if h == "Bearer "+token {
			return true
		}
	}
	return false
}

func (f *fakeAuthAPI) sawWatchToken(token string) bool {
	for _, w := range f.watchTokens() {
		if w == token {
			return true
		}
	}
	return false
}

// TestDashboardResumesAWatchAndListsAgainWhenItExpired serves the page a
// fake pods API whose watch stream ends after one event: the browser
// reconnects with Last-Event-ID (the event's resourceVersion), the fake
// answers 410 Expired as a server that no longer keeps that version, and
// the page lists again and watches from the new list's resourceVersion,
// showing what only the new list has.
func TestDashboardResumesAWatchAndListsAgainWhenItExpired(t *testing.T) {
	t.Parallel()
	fake := &fakeWatchAPI{cut: make(chan struct{})}
	srv := httptest.NewServer(fake.handler())
	t.Cleanup(func() {
		fake.once.Do(func() { close(fake.cut) })
		srv.Close()
	})
	b := newBrowser(t, srv.URL)
	b.signIn("any")
	b.goTo("pods")
	b.waitFor("the pod the watch sent", `!!document.querySelector('#pods-table tr[data-key="default/first"]')`)

	fake.once.Do(func() { close(fake.cut) }) // end the stream
	b.waitFor("the pod only the second list has", `!!document.querySelector('#pods-table tr[data-key="default/second"]')`)
	lists, lastIDs, watchRVs := fake.seen()
	if lists < 2 {
		t.Errorf("the pods were listed %d times, want again after the 410", lists)
	}
	if len(lastIDs) == 0 || lastIDs[0] != "11" {
		t.Errorf("the reconnections sent Last-Event-ID %q, want 11 (the event's resourceVersion) first", lastIDs)
	}
	err := testbed.Poll(context.Background(), 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		_, _, watchRVs = fake.seen()
		return slices.Contains(watchRVs, "20"), nil
	})
	if err != nil {
		t.Errorf("the watches started from %q, want one from the second list's resourceVersion 20", watchRVs)
	}
	if b.text(`#pods-table tr[data-key="default/first"]`) == "" {
		b.fail("the pod of the first list is gone after listing again")
	}
	b.screenshot("relisted")
}

// fakeWatchAPI serves the pods list and watch (other kinds: empty lists
// and idle streams). The first pods watch sends one ADDED event (id 11)
// and ends when cut closes; a watch resumed from 11 gets 410 Expired; the
// second list has one pod more, at resourceVersion 20.
type fakeWatchAPI struct {
	cut  chan struct{}
	once sync.Once

	mu       sync.Mutex
	lists    int
	lastIDs  []string
	watchRVs []string
}

func (f *fakeWatchAPI) seen() (int, []string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, slices.Clone(f.lastIDs), slices.Clone(f.watchRVs)
}

func fakePod(name, rv string) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "resourceVersion": rv, "creationTimestamp": time.Now().UTC().Format(time.RFC3339)},
		"spec":     map[string]any{"runtimeClassName": "wasm", "containers": []any{map[string]any{"name": "app", "image": "file:///app.wasm"}}},
		"status":   map[string]any{"phase": "Running"},
	}
}

func (f *fakeWatchAPI) handler() http.Handler {
	e := echo.New()
	ui.Register(e)
	h := func(c echo.Context) error {
		req := c.Request()
		pods := req.URL.Path == "/api/v1/pods"
		if req.URL.Path == api.WhoAmIPath {
			return c.JSON(http.StatusOK, api.Token{TypeMeta: api.TypeMeta{Kind: "Token", APIVersion: "v1"}, Name: "admin", Role: api.RoleAdmin})
		}
		if c.QueryParam("watch") != "true" {
			if !pods {
				return c.JSON(http.StatusOK, map[string]any{"kind": "List", "metadata": map[string]string{"resourceVersion": "5"}, "items": []any{}})
			}
			f.mu.Lock()
			f.lists++
			n := f.lists
			f.mu.Unlock()
			if n == 1 {
				return c.JSON(http.StatusOK, map[string]any{"kind": "PodList", "metadata": map[string]string{"resourceVersion": "10"}, "items": []any{}})
			}
			return c.JSON(http.StatusOK, map[string]any{"kind": "PodList", "metadata": map[string]string{"resourceVersion": "20"},
				"items": []any{fakePod("first", "11"), fakePod("second", "19")}})
		}
		from := c.QueryParam("resourceVersion")
		if id := req.Header.Get(api.LastEventIDHeader); id != "" {
			from = id
		}
		if pods {
			f.mu.Lock()
			if id := req.Header.Get(api.LastEventIDHeader); id != "" {
				f.lastIDs = append(f.lastIDs, id)
			}
			f.watchRVs = append(f.watchRVs, from)
			f.mu.Unlock()
			if from == "11" {
				return c.JSON(http.StatusGone, api.Status{
					TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: api.StatusFailure, Code: http.StatusGone,
					Reason: api.StatusReasonExpired, Message: "resourceVersion 11 is older than the store keeps: list again",
				})
			}
		}
		w := c.Response()
		w.Header().Set("Content-Type", api.MediaEventStream)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("retry: 100\n\n"))
		if pods && from == "10" {
			ev, _ := json.Marshal(map[string]any{"type": "ADDED", "object": fakePod("first", "11")})
			_, _ = fmt.Fprintf(w, "id: 11\ndata: %s\n\n", ev)
		}
		w.Flush()
		if pods && from == "10" {
			select {
			case <-req.Context().Done():
			case <-f.cut:
			}
			return nil
		}
		<-req.Context().Done()
		return nil
	}
	e.GET("/api/*", h)
	e.GET("/apis/*", h)
	return e
}
