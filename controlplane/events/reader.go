package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Reader reads the events stream for the REST API (GET .../events), so
// that clients need only an API token, not NATS credentials. Each Open is
// one ordered consumer (ephemeral, flow-controlled, no acks) filtered by
// subject, so reading one object's events reads only those.
type Reader struct {
	js jetstream.JetStream
}

// NewReader returns a Reader of the events stream over js.
func NewReader(js jetstream.JetStream) *Reader { return &Reader{js: js} }

// Record is one stored event and its stream sequence, which the API uses
// as the Event's resourceVersion.
type Record struct {
	Seq   uint64
	Event api.CloudEvent
}

// ReadOptions say what a Cursor reads.
type ReadOptions struct {
	// Subjects filter the stream; empty reads every event
	// (api.EventsSubjects).
	Subjects []string
	// After: only events stored after this sequence; 0 starts at the
	// oldest the stream keeps. A sequence older than the stream keeps, or
	// newer than it has reached, is an error wrapping store.ErrExpired.
	After uint64
	// Tail, with After 0 and every subject (Subjects empty or
	// api.EventsSubjects), starts Tail events before the end rather than at
	// the oldest: a reader that keeps the newest Tail events it reads, all
	// of them, needs no more.
	Tail int
}

// Cursor reads the events of one Open in stream order.
type Cursor struct {
	cons    jetstream.Consumer
	it      jetstream.MessagesContext
	head    uint64
	pending uint64
}

// Open starts reading. The caller must Stop the cursor.
func (r *Reader) Open(ctx context.Context, o ReadOptions) (*Cursor, error) {
	stream, err := r.js.Stream(ctx, api.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
	}
	state := stream.CachedInfo().State
	subjects := o.Subjects
	if len(subjects) == 0 {
		subjects = []string{api.EventsSubjects}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case o.After > 0:
		if o.After > state.LastSeq || o.After+1 < state.FirstSeq {
			return nil, fmt.Errorf("events after %d: the stream keeps %d to %d: %w", o.After, state.FirstSeq, state.LastSeq, store.ErrExpired)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.After+1
	case o.Tail > 0 && len(subjects) == 1 && subjects[0] == api.EventsSubjects && state.LastSeq >= uint64(o.Tail):
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = max(state.LastSeq-uint64(o.Tail)+1, state.FirstSeq)
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
	}
	c := &Cursor{cons: cons, head: state.LastSeq}
	if info := cons.CachedInfo(); info != nil {
		c.pending = info.NumPending
	}
	c.it, err = cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
	}
	return c, nil
}

// Head is the sequence the stream had reached when the cursor was opened,
// or the newest one the cursor delivered when that is later: a list read
// up to CaughtUp is exact at Head, and a watch after Head misses nothing.
func (c *Cursor) Head() uint64 { return c.head }

// CaughtUp reports whether every event stored when the cursor was opened
// (of its subjects) has been delivered; Next then waits for new ones.
func (c *Cursor) CaughtUp() bool { return c.pending == 0 }

// Next returns the next event, waiting for one until ctx ends. Messages
// that are not CloudEvents are skipped.
func (c *Cursor) Next(ctx context.Context) (Record, error) {
	for {
		msg, err := c.it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return Record{}, ctx.Err()
			}
			return Record{}, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return Record{}, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
		}
		c.pending = md.NumPending
		c.head = max(c.head, md.Sequence.Stream)
		var e api.CloudEvent
		if err := json.Unmarshal(msg.Data(), &e); err != nil || e.Data == nil {
			continue
		}
		return Record{Seq: md.Sequence.Stream, Event: e}, nil
	}
}

// Stop ends the cursor's consumer.
func (c *Cursor) Stop() {
	if c.it != nil {
		c.it.Stop()
	}
}

// Get reads the event stored at sequence seq. It returns an error wrapping
// store.ErrNotFound when the stream no longer keeps it (or never had it),
// or when the message there is not an event.
func (r *Reader) Get(ctx context.Context, seq uint64) (Record, error) {
	stream, err := r.js.Stream(ctx, api.EventsStream)
	if err != nil {
		return Record{}, fmt.Errorf("read stream %s: %w", api.EventsStream, err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return Record{}, fmt.Errorf("event %d: %w", seq, store.ErrNotFound)
	case err != nil:
		return Record{}, fmt.Errorf("read event %d: %w", seq, err)
	}
	var e api.CloudEvent
	if err := json.Unmarshal(msg.Data, &e); err != nil || e.Data == nil {
		return Record{}, fmt.Errorf("event %d: not an event: %w", seq, store.ErrNotFound)
	}
	return Record{Seq: seq, Event: e}, nil
}
