package api

import (
	"strconv"
	"strings"
	"time"
)

// CloudEvent is a CloudEvents 1.0 JSON event (structured mode). Every state
// change in Skiff is one of these on EventSubject(kind, ns, name).
type CloudEvent struct {
	SpecVersion     string     `json:"specversion"`
	ID              string     `json:"id"`
	Source          string     `json:"source"`
	Type            string     `json:"type"`
	Subject         string     `json:"subject,omitempty"`
	Time            time.Time  `json:"time"`
	DataContentType string     `json:"datacontenttype,omitempty"`
	Data            *EventData `json:"data,omitempty"`
}

// EventData is the payload of every Skiff event.
type EventData struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Reason    string `json:"reason"`
	Message   string `json:"message,omitempty"`
	Node      string `json:"node,omitempty"`
	// Phase is the pod's phase after the change, for pod events.
	Phase PodPhase `json:"phase,omitempty"`
	// ResourceVersion is the object's version the event describes.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// EventType builds a CloudEvent type: io.skiff.<kind>.<reason>, both lowercase.
func EventType(kind KindInfo, reason string) string {
	return "io.skiff." + kind.Singular + "." + lower(reason)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Event is a core/v1 Event as the REST API serves it (GET /api/v1/events,
// /api/v1/namespaces/<ns>/events). Skiff does not store Events as objects:
// the API server builds each one from a CloudEvent of the events stream
// (EventFromCloudEvent), so they cannot be created, changed or deleted
// through the API, and they expire with the stream (7 days by default).
type Event struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	// InvolvedObject is the object the event is about.
	InvolvedObject ObjectReference `json:"involvedObject"`
	Reason         string          `json:"reason,omitempty"`
	Message        string          `json:"message,omitempty"`
	// Source is who reported it: component skiff/controlplane, host the
	// node a pod event is about.
	Source         EventSource `json:"source,omitzero"`
	FirstTimestamp time.Time   `json:"firstTimestamp,omitzero"`
	LastTimestamp  time.Time   `json:"lastTimestamp,omitzero"`
	// EventTime is when it happened, to the microsecond.
	EventTime MicroTime `json:"eventTime,omitzero"`
	// Count is 1: each change is its own event (Skiff does not aggregate).
	Count int32 `json:"count,omitempty"`
	// Type is EventNormal or EventWarning.
	Type                string `json:"type,omitempty"`
	ReportingController string `json:"reportingComponent,omitempty"`
}

// EventSource is the component (and host) that reported an event.
type EventSource struct {
	Component string `json:"component,omitempty"`
	Host      string `json:"host,omitempty"`
}

// Event types, as Kubernetes names them.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// MicroTime is a time with microseconds on the wire, as Kubernetes'
// metav1.MicroTime ("2006-01-02T15:04:05.000000Z07:00").
type MicroTime struct {
	time.Time
}

// microTimeLayout is MicroTime's wire format.
const microTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON writes the time in UTC with microseconds.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(microTimeLayout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time (null is the zero time).
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var v time.Time
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	t.Time = v
	return nil
}

// EventKind is how the REST API names Events. It is not in Kinds(): the
// generic object routes, the store and apply do not serve it.
func EventKind() KindInfo {
	return KindInfo{Kind: "Event", Version: "v1", Resource: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true,
		New: func() Object { return &Event{} }}
}

// EventSeverity is Kubernetes' event type for a Skiff reason: Warning for
// what went wrong (failures, back-offs, a node not ready, a deadline
// passed), Normal otherwise.
func EventSeverity(reason string) string {
	switch reason {
	case "Failed", "Restarted", "OOMKilled", "Error", "Evicted", "Killing", "ProgressDeadlineExceeded", "DeadlineExceeded":
		return EventWarning
	}
	for _, w := range []string{"Fail", "Err", "BackOff", "NotReady", "CannotRun", "Unhealthy"} {
		if strings.Contains(reason, w) {
			return EventWarning
		}
	}
	return EventNormal
}

// EventFromCloudEvent is the core/v1 Event for the CloudEvent stored at
// sequence seq of the events stream: its resourceVersion is seq, its uid
// the CloudEvent's id, its name <object>.<seq in hex> (unique, as
// Kubernetes' <object>.<timestamp in hex>). Events about cluster-scoped
// objects (nodes, namespaces) are in the namespace "default", as
// Kubernetes records them; their involvedObject has no namespace.
func EventFromCloudEvent(seq uint64, ce CloudEvent) *Event {
	d := ce.Data
	if d == nil {
		d = &EventData{}
	}
	ns := d.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	apiVersion := ""
	if info, ok := LookupKind(d.Kind); ok {
		apiVersion = info.APIVersion()
	}
	at := ce.Time.UTC()
	component := ce.Source
	ev := &Event{
		TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: ObjectMeta{
			Name:              d.Name + "." + strconv.FormatUint(seq, 16),
			Namespace:         ns,
			UID:               ce.ID,
			ResourceVersion:   strconv.FormatUint(seq, 10),
			CreationTimestamp: at.Truncate(time.Second),
		},
		InvolvedObject:      ObjectReference{APIVersion: apiVersion, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, UID: d.UID, ResourceVersion: d.ResourceVersion},
		Reason:              d.Reason,
		Message:             d.Message,
		Source:              EventSource{Component: component, Host: d.Node},
		FirstTimestamp:      at.Truncate(time.Second),
		LastTimestamp:       at.Truncate(time.Second),
		EventTime:           MicroTime{at.Truncate(time.Microsecond)},
		Count:               1,
		Type:                EventSeverity(d.Reason),
		ReportingController: component,
	}
	return ev
}

// EventList is the answer to a list of events.
type EventList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Event  `json:"items"`
}
