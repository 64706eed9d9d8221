package web

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/skiff-sh/skiff/controlplane/auth"
)

func TestModuleServesWhileTheAppRuns(t *testing.T) {
	js := openTestJS(t)
	st := openStoreOn(t, js)
	tokens, err := auth.Open(t.Context(), js, auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var srv *Server
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(Options{Listen: "127.0.0.1:0"}, st, tokens, slog.New(slog.NewTextHandler(io.Discard, nil))),
		Module,
		fx.Populate(&srv),
	)
	app.RequireStart()
	res, err := http.Get(srv.URL() + "/healthz")
	if err != nil {
		t.Fatalf("healthz while running: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", res.StatusCode)
	}
	// The module always authenticates.
	res, err = http.Get(srv.URL() + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("list pods without a token = %d, want 401", res.StatusCode)
	}
	url := srv.URL()
	app.RequireStop()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answers after the app stopped")
	}
}
