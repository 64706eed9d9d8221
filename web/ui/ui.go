package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
)

// static holds the dashboard's files: index.html (a template, see
// pageData) and the assets under /ui/.
//
//go:embed static
var static embed.FS

// Paths the dashboard serves.
const (
	// IndexPath is the dashboard page.
	IndexPath = "/"
	// AssetPrefix is where its scripts and styles are:
	// /ui/<build>/<file> (cached for a year: the build changes with the
	// content) and /ui/<file> (revalidated each time).
	AssetPrefix = "/ui/"
)

// Cache-Control values.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
)

// contentSecurityPolicy allows the page only its own scripts, styles and
// API calls: no inline script, no third-party origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// PublicPath reports whether path is one of the dashboard's own (the page
// or an asset), which an authentication middleware lets through without a
// token: the page holds no data, and every API call it makes sends the
// token the user signs in with.
func PublicPath(p string) bool {
	return p == IndexPath || strings.HasPrefix(p, AssetPrefix)
}

// asset is one file as served.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Dashboard is the built dashboard: the page rendered once, and the assets
// with their content types and ETags.
type Dashboard struct {
	index  asset
	assets map[string]asset
	build  string
}

// New reads the embedded files and renders the page.
func New() (*Dashboard, error) {
	d := &Dashboard{assets: map[string]asset{}}
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: read embedded files: %w", err)
	}
	h := sha256.New()
	var page []byte
	for _, e := range entries { // ReadDir sorts by name, so the build is stable
		if e.IsDir() {
			continue
		}
		body, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("dashboard: read %s: %w", e.Name(), err)
		}
		if e.Name() == "index.html" {
			page = body
			continue
		}
		ct := contentTypeOf(path.Ext(e.Name()))
		if ct == "" {
			return nil, fmt.Errorf("dashboard: %s: no content type for its extension", e.Name())
		}
		d.assets[e.Name()] = newAsset(body, ct)
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(body))
		h.Write(body)
	}
	if page == nil {
		return nil, fmt.Errorf("dashboard: static/index.html is missing")
	}
	d.build = hex.EncodeToString(h.Sum(nil))[:12]
	tmpl, err := template.New("index.html").Parse(string(page))
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse index.html: %w", err)
	}
	var buf bytes.Buffer
	data := pageData{Assets: AssetPrefix + d.build + "/", Config: newPageConfig()}
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("dashboard: render index.html: %w", err)
	}
	d.index = newAsset(buf.Bytes(), "text/html; charset=utf-8")
	return d, nil
}

// contentTypeOf is the content type for a file extension ("" for one the
// dashboard does not ship): set here rather than taken from the system's
// MIME table, which differs between machines.
func contentTypeOf(ext string) string {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return ""
}

// Build identifies this set of assets (a hash of their content); the page
// links them under /ui/<build>/.
func (d *Dashboard) Build() string { return d.build }

// Register builds the dashboard and mounts it on e: GET and HEAD of "/"
// and "/ui/*". The embedded files are fixed at compile time and tested, so
// building cannot fail in a released binary; if it did, the dashboard's
// paths would answer 500 with the reason rather than the server failing.
func Register(e *echo.Echo) {
	d, err := New()
	if err != nil {
		broken := func(echo.Context) error { return err }
		e.Match([]string{http.MethodGet, http.MethodHead}, IndexPath, broken)
		e.Match([]string{http.MethodGet, http.MethodHead}, AssetPrefix+"*", broken)
		return
	}
	d.Register(e)
}

// Register mounts the dashboard on e.
func (d *Dashboard) Register(e *echo.Echo) {
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, IndexPath, d.serveIndex)
	e.Match(methods, AssetPrefix+"*", d.serveAsset)
}

func (d *Dashboard) serveIndex(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	return serve(c, d.index, cacheRevalidate)
}

// serveAsset answers /ui/<build>/<file> and /ui/<file>. A build other than
// the current one (a page loaded before an upgrade) gets today's file,
// revalidated rather than cached for a year.
func (d *Dashboard) serveAsset(c echo.Context) error {
	rest := c.Param("*")
	cache := cacheRevalidate
	if build, file, ok := strings.Cut(rest, "/"); ok {
		if build == d.build {
			cache = cacheImmutable
		}
		rest = file
	}
	a, ok := d.assets[rest]
	if !ok {
		return echo.ErrNotFound
	}
	return serve(c, a, cache)
}

// serve writes a file with its validators, or 304 when the client's copy
// is current.
func serve(c echo.Context, a asset, cache string) error {
	h := c.Response().Header()
	h.Set("Cache-Control", cache)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatches(c.Request().Header.Get("If-None-Match"), a.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if c.Request().Method == http.MethodHead {
		h.Set(echo.HeaderContentType, a.contentType)
		h.Set(echo.HeaderContentLength, fmt.Sprint(len(a.body)))
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, a.contentType, a.body)
}

// etagMatches implements If-None-Match's weak comparison: a list of tags,
// or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// pageData fills index.html.
type pageData struct {
	// Assets is the versioned asset path prefix, "/ui/<build>/".
	Assets string
	// Config is written into the page as JSON for app.js.
	Config pageConfig
}

// pageConfig is what the page's scripts learn from the server's api
// package rather than repeat: the kinds and their REST paths.
type pageConfig struct {
	Kinds          []kindConfig `json:"kinds"`
	LogSubresource string       `json:"logSubresource"`
	// WhoAmIPath tells the page what its token may do (name, role,
	// namespace), so that it can start in the token's namespace and
	// disable what a view token cannot do.
	WhoAmIPath string `json:"whoAmIPath"`
}

// kindConfig is one kind's REST paths, with "{namespace}" and "{name}"
// for the page to fill in.
type kindConfig struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Resource   string   `json:"resource"`
	ShortNames []string `json:"shortNames,omitempty"`
	Namespaced bool     `json:"namespaced"`
	// Collection is the namespaced collection path (or the cluster-scoped
	// one), Item one object's, All the list across namespaces.
	Collection string `json:"collection"`
	Item       string `json:"item"`
	All        string `json:"all"`
}

func newPageConfig() pageConfig {
	cfg := pageConfig{LogSubresource: api.LogSubresource, WhoAmIPath: api.WhoAmIPath}
	for _, k := range api.Kinds() {
		cfg.Kinds = append(cfg.Kinds, kindConfig{
			Kind: k.Kind, APIVersion: k.APIVersion(), Resource: k.Resource,
			ShortNames: slices.Clone(k.ShortNames), Namespaced: k.Namespaced,
			Collection: api.ResourcePath(k, "{namespace}", ""),
			Item:       api.ResourcePath(k, "{namespace}", "{name}"),
			All:        api.ResourcePath(k, "", ""),
		})
	}
	return cfg
}
