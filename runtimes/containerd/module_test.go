package containerd_test

import (
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
)

func TestModuleProvidesTheDriverAndClosesItOnStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var d *containerd.Driver
	var drivers struct {
		fx.In
		All []runtimes.Driver `group:"drivers"`
	}
	app := fxtest.New(t,
		fx.Supply(e.options(t)),
		containerd.Module,
		fx.Populate(&d, &drivers),
	)
	app.RequireStart()
	if d == nil || len(drivers.All) != 1 || drivers.All[0] != runtimes.Driver(d) {
		t.Fatalf("driver %v, group %v: want the one driver in both", d, drivers.All)
	}
	if got := d.Capabilities(); got.Runtime != containerd.DriverName || !got.SurvivesAgentRestart {
		t.Fatalf("capabilities %+v", got)
	}
	app.RequireStop()
	if _, err := d.Start(t.Context(), e.task(t, "after-stop", "hello")); err == nil {
		t.Fatal("Start after the app stopped succeeded; the driver was not closed")
	}
}
