package artifacts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

type env struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startNATS(t *testing.T) env {
	t.Helper()
	nc, js := natstest.Connect(t, natstest.Start(t))
	return env{url: nc.ConnectedUrl(), nc: nc, js: js}
}

func openStore(t *testing.T, e env, opts artifacts.Options) *artifacts.Store {
	t.Helper()
	st, err := artifacts.Open(context.Background(), e.js, e.nc, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func serve(t *testing.T, st *artifacts.Store) {
	t.Helper()
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
}

// wasmModule is a valid Wasm binary: the header and one custom section
// holding payloadSize bytes that differ from offset to offset.
func wasmModule(payloadSize int) []byte {
	name := "skiff.test"
	content := append([]byte{byte(len(name))}, name...)
	for i := range payloadSize {
		content = append(content, byte(i*7+i/251))
	}
	b := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00, 0x00} // header, custom section id
	n := uint32(len(content))
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			b = append(b, c|0x80)
			continue
		}
		b = append(b, c)
		break
	}
	return append(b, content...)
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func objectCount(t *testing.T, e env) int {
	t.Helper()
	ctx := context.Background()
	obj, err := e.js.ObjectStore(ctx, api.ArtifactsBucket)
	if err != nil {
		t.Fatal(err)
	}
	list, err := obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func agent(t *testing.T, e env) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(e.url, nats.CustomInboxPrefix(api.NodeInboxPrefix("edge-1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func requestChunk(t *testing.T, nc *nats.Conn, req any) api.ArtifactChunk {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request(api.AgentSubject("edge-1", api.AgentArtifact), b, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var c api.ArtifactChunk
	if err := json.Unmarshal(msg.Data, &c); err != nil {
		t.Fatalf("decode chunk: %v", err)
	}
	return c
}

func TestPutArtifactRefusesANonWasmBodyAndStoresNothing(t *testing.T) {
	e := startNATS(t)
	st := openStore(t, e, artifacts.Options{})
	ctx := context.Background()
	for _, body := range [][]byte{
		[]byte("#!/bin/sh\necho hi\n"),
		{},
		{0x00, 'a', 's', 'm'}, // header cut short
		{0x00, 'a', 's', 'm', 0x02, 0x00, 0x00, 0x00}, // unknown version
		{0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00}, // a native binary
	} {
		digest, size, err := st.PutArtifact(ctx, bytes.NewReader(body))
		if !errors.Is(err, api.ErrInvalidArtifact) {
			t.Errorf("PutArtifact(%q) = %q, %d, %v; want api.ErrInvalidArtifact", body, digest, size, err)
		}
	}
	if n := objectCount(t, e); n != 0 {
		t.Errorf("%d objects stored after refusals, want 0", n)
	}
}

func TestPutArtifactRefusesAModuleOverMaxSize(t *testing.T) {
	e := startNATS(t)
	st := openStore(t, e, artifacts.Options{MaxSize: 1024})
	_, _, err := st.PutArtifact(context.Background(), bytes.NewReader(wasmModule(2048)))
	if !errors.Is(err, api.ErrInvalidArtifact) || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("PutArtifact of a module over MaxSize = %v, want api.ErrInvalidArtifact naming the limit", err)
	}
	if n := objectCount(t, e); n != 0 {
		t.Errorf("%d objects stored, want 0", n)
	}
	// At the limit exactly it is taken (the check reads the header only).
	mod := wasmModule(2048)[:1024]
	if _, _, err := st.PutArtifact(context.Background(), bytes.NewReader(mod)); err != nil {
		t.Errorf("PutArtifact of %d bytes with MaxSize 1024: %v", len(mod), err)
	}
}

func TestPutArtifactTwiceGivesTheSameDigest(t *testing.T) {
	e := startNATS(t)
	ctx := context.Background()
	mod := wasmModule(4096)
	st := openStore(t, e, artifacts.Options{})
	d1, size, err := st.PutArtifact(ctx, bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	if d1 != digestOf(mod) || size != int64(len(mod)) {
		t.Fatalf("PutArtifact = %s, %d; want %s, %d", d1, size, digestOf(mod), len(mod))
	}
	d2, _, err := st.PutArtifact(ctx, bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	// Another replica (no cache) agrees.
	d3, _, err := openStore(t, e, artifacts.Options{}).PutArtifact(ctx, bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	if d2 != d1 || d3 != d1 {
		t.Errorf("digests %s, %s, %s; want all %s", d1, d2, d3, d1)
	}
	if n := objectCount(t, e); n != 1 {
		t.Errorf("%d objects stored, want 1", n)
	}
	got, err := openStore(t, e, artifacts.Options{}).Get(ctx, d1)
	if err != nil || !bytes.Equal(got, mod) {
		t.Errorf("Get(%s) from a fresh store = %d bytes, %v; want the module", d1, len(got), err)
	}
}

func TestGetOfAnUnknownDigestWrapsObjectNotFound(t *testing.T) {
	e := startNATS(t)
	st := openStore(t, e, artifacts.Options{})
	_, err := st.Get(context.Background(), digestOf([]byte("nothing")))
	if !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("Get(unknown) = %v, want jetstream.ErrObjectNotFound", err)
	}
}

func TestChunkRequestsReturnTheRightBytesAcrossSeveralChunks(t *testing.T) {
	e := startNATS(t)
	ctx := context.Background()
	mod := wasmModule(2*api.ArtifactChunkSize + 12345) // three chunks
	digest, _, err := openStore(t, e, artifacts.Options{}).PutArtifact(ctx, bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	// Served by a store that did not take the upload, so the bytes come
	// from JetStream, not from the uploader's cache.
	serve(t, openStore(t, e, artifacts.Options{}))
	nc := agent(t, e)

	var got []byte
	chunks := 0
	for int64(len(got)) < int64(len(mod)) {
		c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Offset: int64(len(got)), Length: api.ArtifactChunkSize})
		if c.Error != "" || c.NotFound {
			t.Fatalf("chunk at %d: %+v", len(got), c.Error)
		}
		if c.Size != int64(len(mod)) {
			t.Fatalf("chunk at %d says size %d, want %d", len(got), c.Size, len(mod))
		}
		if len(c.Data) == 0 || len(c.Data) > api.ArtifactChunkSize {
			t.Fatalf("chunk at %d has %d bytes", len(got), len(c.Data))
		}
		got = append(got, c.Data...)
		chunks++
	}
	if chunks != 3 || !bytes.Equal(got, mod) {
		t.Fatalf("reassembled %d bytes in %d chunks, equal=%v; want %d bytes in 3", len(got), chunks, bytes.Equal(got, mod), len(mod))
	}

	// A small window in the middle.
	c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Offset: 600000, Length: 1000})
	if !bytes.Equal(c.Data, mod[600000:601000]) {
		t.Errorf("window [600000,601000) has %d bytes that do not match", len(c.Data))
	}
	// Asking for more than a chunk, or for "everything" (0), gets one chunk.
	for _, length := range []int64{0, -1, 10 * api.ArtifactChunkSize} {
		c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Length: length})
		if len(c.Data) != api.ArtifactChunkSize || !bytes.Equal(c.Data, mod[:api.ArtifactChunkSize]) {
			t.Errorf("length %d: got %d bytes, want the first %d", length, len(c.Data), api.ArtifactChunkSize)
		}
	}
}

func TestChunkRequestForAnUnknownDigestSaysNotFound(t *testing.T) {
	e := startNATS(t)
	serve(t, openStore(t, e, artifacts.Options{}))
	c := requestChunk(t, agent(t, e), api.ArtifactChunkRequest{Digest: digestOf([]byte("never uploaded")), Length: 10})
	if !c.NotFound || c.Error == "" || len(c.Data) != 0 {
		t.Fatalf("chunk of unknown digest = %+v, want NotFound with an error", c)
	}
}

func TestChunkRequestOutsideTheArtifactIsAnErrorNotAPanic(t *testing.T) {
	e := startNATS(t)
	mod := wasmModule(100)
	st := openStore(t, e, artifacts.Options{})
	digest, _, err := st.PutArtifact(context.Background(), bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, st)
	nc := agent(t, e)
	size := int64(len(mod))

	for _, off := range []int64{size + 1, size + api.ArtifactChunkSize, math.MaxInt64, -1, math.MinInt64} {
		c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Offset: off, Length: api.ArtifactChunkSize})
		if c.Error == "" || len(c.Data) != 0 || c.NotFound {
			t.Errorf("offset %d: %+v, want an error and no data", off, c)
		}
	}
	// Offset at the very end: nothing left, no error (the agent is done).
	c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Offset: size, Length: 10})
	if c.Error != "" || len(c.Data) != 0 || c.Size != size {
		t.Errorf("offset at the end: %+v, want no data, no error", c)
	}
	// Offset near the end with a length that would overflow.
	c = requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Offset: size - 3, Length: math.MaxInt64})
	if c.Error != "" || !bytes.Equal(c.Data, mod[size-3:]) {
		t.Errorf("last 3 bytes with a huge length: %+v", c)
	}

	// A request that is not JSON gets an error, and the server keeps serving.
	msg, err := nc.Request(api.AgentSubject("edge-1", api.AgentArtifact), []byte("{not json"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var bad api.ArtifactChunk
	if err := json.Unmarshal(msg.Data, &bad); err != nil || !strings.Contains(bad.Error, "bad request") {
		t.Errorf("non-JSON request answered %q (%v), want a bad request error", msg.Data, err)
	}
	if c := requestChunk(t, nc, api.ArtifactChunkRequest{Digest: digest, Length: 8}); !bytes.Equal(c.Data, mod[:8]) {
		t.Errorf("after bad requests the first 8 bytes are %x", c.Data)
	}
}

func TestStopEndsServingChunks(t *testing.T) {
	e := startNATS(t)
	st := openStore(t, e, artifacts.Options{})
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Stop()
	nc := agent(t, e)
	_, err := nc.Request(api.AgentSubject("edge-1", api.AgentArtifact), []byte(`{"digest":"sha256:00"}`), 2*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request after Stop: %v, want no responders", err)
	}
}
