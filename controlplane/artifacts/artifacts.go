package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// Options configure the Store.
type Options struct {
	Replicas int
	// MaxSize is the largest module accepted. Default 64 MiB.
	MaxSize int64
	// CacheBytes bounds the modules kept in memory to serve chunks without
	// re-reading the object store for each. Default 64 MiB.
	CacheBytes int64
}

// Store holds artifacts and serves them to agents.
type Store struct {
	opts Options
	obj  jetstream.ObjectStore
	nc   *nats.Conn
	log  *slog.Logger

	mu     sync.Mutex
	cache  map[string][]byte
	order  []string // oldest first
	cached int64
	sub    *nats.Subscription
	ctx    context.Context
	cancel context.CancelFunc
}

// Open creates or updates the object store bucket.
func Open(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, opts Options, log *slog.Logger) (*Store, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 64 << 20
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = 64 << 20
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      api.ArtifactsBucket,
		Description: "Skiff Wasm modules, named by sha256 digest",
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", api.ArtifactsBucket, err)
	}
	return &Store{opts: opts, obj: obj, nc: nc, log: log, cache: map[string][]byte{}}, nil
}

// PutArtifact stores a Wasm module and returns its digest ("sha256:<hex>").
// Storing the same module twice is a no-op. A body that is not a Wasm
// binary module is refused with api.ErrInvalidArtifact.
func (s *Store) PutArtifact(ctx context.Context, r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(io.LimitReader(r, s.opts.MaxSize+1))
	if err != nil {
		return "", 0, fmt.Errorf("read artifact: %w", err)
	}
	if int64(len(b)) > s.opts.MaxSize {
		return "", 0, fmt.Errorf("artifact is larger than %d bytes: %w", s.opts.MaxSize, api.ErrInvalidArtifact)
	}
	if !api.IsWasmBinary(b) {
		return "", 0, fmt.Errorf("not a Wasm binary module (it must start with \\0asm and version 1): %w", api.ErrInvalidArtifact)
	}
	sum := sha256.Sum256(b)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	name := api.ArtifactObjectName(digest)
	if _, err := s.obj.GetInfo(ctx, name); err == nil {
		return digest, int64(len(b)), nil
	}
	if _, err := s.obj.PutBytes(ctx, name, b); err != nil {
		return "", 0, fmt.Errorf("store artifact %s: %w", digest, err)
	}
	s.remember(digest, b)
	return digest, int64(len(b)), nil
}

// Get returns a whole artifact; the error wraps jetstream.ErrObjectNotFound
// when there is none.
func (s *Store) Get(ctx context.Context, digest string) ([]byte, error) {
	s.mu.Lock()
	b, ok := s.cache[digest]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.obj.GetBytes(ctx, api.ArtifactObjectName(digest))
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", digest, err)
	}
	s.remember(digest, b)
	return b, nil
}

func (s *Store) remember(digest string, b []byte) {
	if int64(len(b)) > s.opts.CacheBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[digest]; ok {
		return
	}
	for s.cached+int64(len(b)) > s.opts.CacheBytes && len(s.order) > 0 {
		old := s.order[0]
		s.order = s.order[1:]
		s.cached -= int64(len(s.cache[old]))
		delete(s.cache, old)
	}
	s.cache[digest] = b
	s.order = append(s.order, digest)
	s.cached += int64(len(b))
}

// Start serves chunk requests from agents.
func (s *Store) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	sub, err := s.nc.QueueSubscribe(api.AgentSubjectAll(api.AgentArtifact), api.ControlPlaneQueue, s.serveChunk)
	if err != nil {
		return fmt.Errorf("subscribe to artifact requests: %w", err)
	}
	s.sub = sub
	// Once Start returns, the server knows the subscription: an agent's
	// request is never met with "no responders" by a serving store.
	if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("subscribe to artifact requests: %w", err)
	}
	return nil
}

// Stop ends serving.
func (s *Store) Stop() {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
		// Once Stop returns the server must know: no request may still be
		// routed here and time out.
		_ = s.nc.Flush()
	}
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *Store) serveChunk(m *nats.Msg) {
	if !api.AgentReplyAllowed(m.Subject, m.Reply) {
		s.log.Warn("artifact request dropped: its reply subject is outside the node's inbox", "subject", m.Subject, "reply", m.Reply)
		return
	}
	var req api.ArtifactChunkRequest
	var resp api.ArtifactChunk
	if err := json.Unmarshal(m.Data, &req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else if b, err := s.Get(s.ctx, req.Digest); err != nil {
		resp.Error = err.Error()
		resp.NotFound = errors.Is(err, jetstream.ErrObjectNotFound)
	} else {
		resp.Size = int64(len(b))
		n := req.Length
		if n <= 0 || n > api.ArtifactChunkSize {
			n = api.ArtifactChunkSize
		}
		if req.Offset < 0 || req.Offset > resp.Size {
			resp.Error = fmt.Sprintf("offset %d is outside the artifact (size %d)", req.Offset, resp.Size)
		} else {
			resp.Data = bytes.Clone(b[req.Offset:min(resp.Size, req.Offset+n)])
		}
	}
	out, _ := json.Marshal(resp)
	if err := m.Respond(out); err != nil {
		s.log.Warn("answer artifact request", "subject", m.Subject, "err", err)
	}
}
