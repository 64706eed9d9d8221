package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/web/ui"
)

func newServer(t *testing.T) (*echo.Echo, *ui.Dashboard) {
	t.Helper()
	d, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	d.Register(e)
	return e, d
}

func get(t *testing.T, e *echo.Echo, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndexIsRevalidatedHTMLThatLinksThisBuildsAssets(t *testing.T) {
	e, d := newServer(t)
	res := get(t, e, http.MethodGet, "/", nil)
	page := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q, want own scripts only", csp)
	}
	if res.Header.Get("ETag") == "" {
		t.Error("no ETag on the page")
	}
	for _, asset := range []string{"app.js", "app.css"} {
		if want := "/ui/" + d.Build() + "/" + asset; !strings.Contains(page, want) {
			t.Errorf("the page does not link %s", want)
		}
	}
}

func TestPageConfigCarriesTheAPIsKindPaths(t *testing.T) {
	e, _ := newServer(t)
	page := body(t, get(t, e, http.MethodGet, "/", nil))
	m := regexp.MustCompile(`(?s)<script type="application/json" id="skiff-config">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page has no skiff-config script")
	}
	var cfg struct {
		Kinds []struct {
			Kind, Collection, Item, All string
			Namespaced                  bool
		}
		LogSubresource string
	}
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("skiff-config is not JSON: %v\n%s", err, m[1])
	}
	want := map[string][3]string{
		"Pod":        {"/api/v1/namespaces/{namespace}/pods", "/api/v1/namespaces/{namespace}/pods/{name}", "/api/v1/pods"},
		"Deployment": {"/apis/apps/v1/namespaces/{namespace}/deployments", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "/apis/apps/v1/deployments"},
		"Node":       {"/api/v1/nodes", "/api/v1/nodes/{name}", "/api/v1/nodes"},
	}
	found := 0
	for _, k := range cfg.Kinds {
		w, ok := want[k.Kind]
		if !ok {
			continue
		}
		found++
		if got := [3]string{k.Collection, k.Item, k.All}; got != w {
			t.Errorf("%s paths = %q, want %q", k.Kind, got, w)
		}
	}
	if found != len(want) || cfg.LogSubresource != "log" {
		t.Errorf("config has %d of the %d kinds checked, logSubresource %q", found, len(want), cfg.LogSubresource)
	}
}

func TestAssetsOfThisBuildAreCachedForAYearOthersRevalidate(t *testing.T) {
	e, d := newServer(t)
	tests := []struct {
		give      string
		wantCache string
	}{
		{give: "/ui/" + d.Build() + "/app.js", wantCache: "public, max-age=31536000, immutable"},
		{give: "/ui/app.js", wantCache: "no-cache"},
		{give: "/ui/000000000000/app.js", wantCache: "no-cache"},
	}
	for _, tt := range tests {
		res := get(t, e, http.MethodGet, tt.give, nil)
		js := body(t, res)
		if res.StatusCode != http.StatusOK || !strings.Contains(js, "import") {
			t.Errorf("GET %s = %d", tt.give, res.StatusCode)
		}
		if got := res.Header.Get("Cache-Control"); got != tt.wantCache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tt.give, got, tt.wantCache)
		}
	}
}

func TestEveryModuleTheScriptsImportIsServedWithItsContentType(t *testing.T) {
	e, d := newServer(t)
	want := map[string]string{
		"app.js": "text/javascript; charset=utf-8", "api.js": "text/javascript; charset=utf-8",
		"dom.js": "text/javascript; charset=utf-8", "manifest.js": "text/javascript; charset=utf-8",
		"model.js": "text/javascript; charset=utf-8",
		"app.css":  "text/css; charset=utf-8",
	}
	imports := regexp.MustCompile(`from "\./([a-z]+\.js)"`)
	for name, ct := range want {
		res := get(t, e, http.MethodGet, "/ui/"+d.Build()+"/"+name, nil)
		text := body(t, res)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ct || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, Content-Type %q, nosniff %q", name, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("X-Content-Type-Options"))
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			if _, ok := want[m[1]]; !ok {
				t.Errorf("%s imports %s, which this test does not know is served", name, m[1])
			}
		}
	}
}

func TestConditionalRequestWithTheETagIsNotModified(t *testing.T) {
	e, d := newServer(t)
	for _, path := range []string{"/", "/ui/" + d.Build() + "/app.css"} {
		first := get(t, e, http.MethodGet, path, nil)
		etag := first.Header.Get("ETag")
		res := get(t, e, http.MethodGet, path, http.Header{"If-None-Match": {`"other", ` + etag}})
		if res.StatusCode != http.StatusNotModified || body(t, res) != "" {
			t.Errorf("GET %s with If-None-Match %s = %d, want 304 without a body", path, etag, res.StatusCode)
		}
		if res := get(t, e, http.MethodGet, path, http.Header{"If-None-Match": {`"stale"`}}); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a stale ETag = %d, want 200", path, res.StatusCode)
		}
	}
}

func TestHeadAnswersHeadersOnly(t *testing.T) {
	e, _ := newServer(t)
	res := get(t, e, http.MethodHead, "/", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || body(t, res) != "" {
		t.Fatalf("HEAD / = %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestUnknownAssetIsNotFound(t *testing.T) {
	e, d := newServer(t)
	for _, path := range []string{"/ui/nope.js", "/ui/" + d.Build() + "/index.html", "/ui/" + d.Build() + "/../app.js"} {
		if res := get(t, e, http.MethodGet, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
		}
	}
}

func TestPublicPathIsTheDashboardOnly(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"/", true},
		{"/ui/app.js", true},
		{"/ui/abc/app.css", true},
		{"/api/v1/pods", false},
		{"/apis/apps/v1/deployments", false},
		{"/healthz", false},
		{"/uix", false},
	}
	for _, tt := range tests {
		if got := ui.PublicPath(tt.give); got != tt.want {
			t.Errorf("PublicPath(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
