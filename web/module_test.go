package web

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModuleServesWhileTheAppRuns(t *testing.T) {
	st := openTestStore(t)
	var srv *Server
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(Options{Listen: "127.0.0.1:0"}, st, slog.New(slog.NewTextHandler(io.Discard, nil))),
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
	url := srv.URL()
	app.RequireStop()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answers after the app stopped")
	}
}
