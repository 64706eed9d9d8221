package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// Source is the CloudEvents source of events the control plane emits.
const Source = "skiff/controlplane"

// Recorder publishes events. It uses core NATS publishes: the stream
// captures them, and a slow disk never holds up the caller.
type Recorder struct {
	nc  *nats.Conn
	now func() time.Time
}

// NewRecorder returns a Recorder publishing on nc.
func NewRecorder(nc *nats.Conn) *Recorder { return &Recorder{nc: nc, now: time.Now} }

// Record publishes one event about obj.
func (r *Recorder) Record(obj api.Object, d api.EventData) error {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	d.Kind, d.Namespace, d.Name, d.UID = info.Kind, m.Namespace, m.Name, m.UID
	if d.ResourceVersion == "" {
		d.ResourceVersion = m.ResourceVersion
	}
	return r.publish(info, d)
}

// RecordDeleted publishes the event of an object that is gone from the
// store, when only its name (and maybe last state) is known.
func (r *Recorder) RecordDeleted(info api.KindInfo, ns, name string, d api.EventData) error {
	d.Kind, d.Namespace, d.Name = info.Kind, ns, name
	return r.publish(info, d)
}

func (r *Recorder) publish(info api.KindInfo, d api.EventData) error {
	ev := api.CloudEvent{
		SpecVersion:     "1.0",
		ID:              uuid.NewString(),
		Source:          Source,
		Type:            api.EventType(info, d.Reason),
		Subject:         subjectPath(info, d.Namespace, d.Name),
		Time:            r.now().UTC(),
		DataContentType: "application/json",
		Data:            &d,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if err := r.nc.Publish(api.EventSubject(info, d.Namespace, d.Name), b); err != nil {
		return fmt.Errorf("publish event %s: %w", ev.Type, err)
	}
	return nil
}

func subjectPath(info api.KindInfo, ns, name string) string {
	if ns == "" {
		return info.Resource + "/" + name
	}
	return info.Resource + "/" + ns + "/" + name
}
