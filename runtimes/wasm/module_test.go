package wasm_test

import (
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/wasm"
)

func TestModuleProvidesTheDriverAndClosesItOnStop(t *testing.T) {
	var d *wasm.Driver
	var drivers struct {
		fx.In
		All []runtimes.Driver `group:"drivers"`
	}
	app := fxtest.New(t,
		fx.Supply(wasm.Options{CacheDir: t.TempDir()}),
		wasm.Module,
		fx.Populate(&d, &drivers),
	)
	app.RequireStart()
	if d == nil || len(drivers.All) != 1 || drivers.All[0] != runtimes.Driver(d) {
		t.Fatalf("driver %v, group %v: want the one driver in both", d, drivers.All)
	}
	app.RequireStop()
	if _, err := d.Start(t.Context(), &runtimes.TaskConfig{ID: "x", Image: "/nope.wasm"}); err == nil {
		t.Fatal("Start after the app stopped succeeded; the driver was not closed")
	}
}
