package events

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module ensures the events stream and provides a *Recorder, a *Watcher
// that records store changes while the app runs, and a *Reader of the
// stream for the REST API.
var Module = fx.Module("events",
	fx.Provide(func(js jetstream.JetStream, nc *nats.Conn, cfg config.Config) (*Recorder, error) {
		if _, err := EnsureStream(context.Background(), js, StreamOptions{Replicas: cfg.NATS.Replicas}); err != nil {
			return nil, err
		}
		return NewRecorder(nc), nil
	}),
	fx.Provide(NewReader),
	fx.Provide(func(st *store.Store, rec *Recorder, log *slog.Logger) *Watcher {
		// Leader-only: the control plane's leader election starts it, so
		// each change is told once however many replicas run.
		return NewWatcher(st, rec, log.With("component", "events"))
	}),
)
