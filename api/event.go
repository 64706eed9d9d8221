package api

import "time"

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
