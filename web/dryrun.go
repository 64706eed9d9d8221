package web

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// dryRun reads the dryRun parameter of a write: true for "All" (repeated
// or not), false when absent, and a 400 naming the parameter for any other
// value, as Kubernetes words it.
func dryRun(c echo.Context) (bool, error) {
	values, ok := c.QueryParams()[api.ParamDryRun]
	if !ok {
		return false, nil
	}
	for _, v := range values {
		if v != api.DryRunAll {
			e := badField(api.ParamDryRun, "Unsupported value: %q: supported values: %q", v, api.DryRunAll)
			e.causes[0].Type = api.ErrTypeNotSupported
			return false, e
		}
	}
	return true, nil
}

// writeStore is the store a write goes through: for a dry run, a view
// whose writes are checked and not made (store.DryRun), so that admission
// (namespace, owners, quota charges) and the store's own checks (name
// taken, compare-and-swap) run exactly as for a real write.
func (s *Server) writeStore(dry bool) *store.Store {
	if dry {
		return s.store.DryRun()
	}
	return s.store
}

// noDryRun refuses dryRun on an endpoint that cannot honour it (tokens,
// artifact uploads), rather than writing for real.
func noDryRun(c echo.Context) error {
	if _, ok := c.QueryParams()[api.ParamDryRun]; !ok {
		return nil
	}
	if _, err := dryRun(c); err != nil {
		return err
	}
	return badField(api.ParamDryRun, "this endpoint has no dry run: send the request without dryRun")
}

// writeLogLevel is the level a write is logged at: info, or debug for a
// dry run, which changed nothing.
func writeLogLevel(dry bool) slog.Level {
	if dry {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
