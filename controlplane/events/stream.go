package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// StreamOptions bound how much history the events stream keeps.
type StreamOptions struct {
	MaxAge   time.Duration // default 7 days
	MaxBytes int64         // default 512 MiB
	Replicas int           // default 1
}

// EnsureStream creates or updates the SKIFF_EVENTS stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	if o.MaxAge == 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 512 << 20
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        api.EventsStream,
		Description: "Skiff events (CloudEvents 1.0 JSON), one subject per object",
		Subjects:    []string{api.EventsSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		Replicas:    o.Replicas,
		// Events readers (skiff nats context) read history by direct
		// get: they may not create consumers (docs/security.md).
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", api.EventsStream, err)
	}
	return s, nil
}
