package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEventSeverity(t *testing.T) {
	for reason, want := range map[string]string{
		"Created": EventNormal, "Scheduled": EventNormal, "Running": EventNormal, "NodeReady": EventNormal, "Succeeded": EventNormal,
		"Failed": EventWarning, "FailedScheduling": EventWarning, "ErrImagePull": EventWarning, "ImagePullBackOff": EventWarning,
		"CrashLoopBackOff": EventWarning, "NodeNotReady": EventWarning, "ContainerCannotRun": EventWarning, "Restarted": EventWarning,
	} {
		if got := EventSeverity(reason); got != want {
			t.Errorf("EventSeverity(%s) = %s, want %s", reason, got, want)
		}
	}
}

func TestEventFromCloudEventOfANode(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	e := EventFromCloudEvent(42, CloudEvent{ID: "id-1", Source: "skiff/controlplane", Time: at,
		Data: &EventData{Kind: "Node", Name: "edge-1", UID: "u", Reason: "NodeNotReady", Message: "node is NotReady", Node: "edge-1"}})
	if e.Name != "edge-1.2a" || e.Namespace != DefaultNamespace || e.ResourceVersion != "42" || e.UID != "id-1" || e.Type != EventWarning {
		t.Fatalf("event = %+v", e.ObjectMeta)
	}
	if e.InvolvedObject != (ObjectReference{APIVersion: "v1", Kind: "Node", Name: "edge-1", UID: "u"}) || e.Source != (EventSource{Component: "skiff/controlplane", Host: "edge-1"}) {
		t.Fatalf("involvedObject %+v source %+v", e.InvolvedObject, e.Source)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"eventTime":"2026-01-02T03:04:05.123456Z"`, `"firstTimestamp":"2026-01-02T03:04:05Z"`, `"count":1`, `"apiVersion":"v1","kind":"Event"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !back.EventTime.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("round trip: %v %v", back.EventTime, err)
	}
}
