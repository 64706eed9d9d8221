package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// entry is a KV entry as a watch reads it: the one fake of this test, since
// a real consumer skips an overwritten message only when it lags, which a
// test cannot arrange.
type entry struct {
	key string
	val []byte
	rev uint64
	op  jetstream.KeyValueOp
}

func (e entry) Bucket() string                  { return api.ObjectsBucket }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.val }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return time.Time{} }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

func podEntry(t *testing.T, name, uid string, rev uint64) entry {
	t.Helper()
	b, err := json.Marshal(&api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, UID: uid}})
	if err != nil {
		t.Fatal(err)
	}
	return entry{key: api.ObjectKey("pods", "default", name), val: b, rev: rev, op: jetstream.KeyValuePut}
}

func told(cs []Change) string {
	out := ""
	for _, c := range cs {
		switch {
		case c.Synced:
			out += "synced "
		case c.Deleted:
			out += fmt.Sprintf("deleted %s@%d ", c.Name, c.Revision)
		case c.Created:
			out += fmt.Sprintf("created %s/%s@%d ", c.Name, c.Object.GetObjectMeta().UID, c.Revision)
		default:
			out += fmt.Sprintf("modified %s/%s@%d ", c.Name, c.Object.GetObjectMeta().UID, c.Revision)
		}
	}
	return out
}

// A key deleted and created again, whose delete marker the watch never
// read (the create replaced it first), is told as the old object's
// deletion and the new one's creation, not as a modification.
func TestAKeyThatHoldsAnotherObjectIsToldAsDeleteThenCreate(t *testing.T) {
	s := &Store{}
	pods, _ := api.LookupKind("Pod")
	cw := changeWatch{s: s, info: pods, seen: map[string]string{}}
	var got string
	for _, e := range []jetstream.KeyValueEntry{
		podEntry(t, "a", "uid-1", 1),
		nil, // end of the initial values
		podEntry(t, "a", "uid-1", 2),
		podEntry(t, "a", "uid-2", 4), // rev 3, the deletion, was written over
		entry{key: api.ObjectKey("pods", "default", "a"), rev: 5, op: jetstream.KeyValueDelete},
	} {
		got += told(cw.changes(e))
	}
	want := "created a/uid-1@1 synced modified a/uid-1@2 deleted a@4 created a/uid-2@4 deleted a@5 "
	if got != want {
		t.Fatalf("told %q, want %q", got, want)
	}
}
