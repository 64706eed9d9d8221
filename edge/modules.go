package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// maxModuleSize bounds a module the agent downloads, so a wrong URL cannot
// fill the device's disk.
const maxModuleSize = 256 << 20

// moduleCache turns a Wasm image reference into a local, verified file.
// Modules fetched over the network are kept under dir as
// sha256-<hex>.wasm; a cached digest is never fetched again.
type moduleCache struct {
	dir            string
	nc             *nats.Conn
	node           string
	http           *http.Client
	requestTimeout time.Duration

	mu    sync.Mutex
	locks map[string]*digestLock // one fetch per digest at a time
}

type digestLock struct {
	mu   sync.Mutex
	refs int
}

// module is a resolved Wasm module.
type module struct {
	Path string // local file to hand the driver
	ID   string // the digest, or the file:// reference
}

func newModuleCache(dir string, nc *nats.Conn, node string, hc *http.Client, requestTimeout time.Duration) *moduleCache {
	return &moduleCache{dir: dir, nc: nc, node: node, http: hc, requestTimeout: requestTimeout, locks: map[string]*digestLock{}}
}

// cachePath is where a module with this digest is kept.
func (m *moduleCache) cachePath(digest string) string {
	return filepath.Join(m.dir, strings.ReplaceAll(digest, ":", "-")+".wasm")
}

// Cached returns the module at once when no fetch is needed.
func (m *moduleCache) Cached(image string) (module, bool) {
	src, err := api.ParseWasmImage(image)
	if err != nil {
		return module{}, false
	}
	switch src.Kind {
	case api.WasmFromFile:
		return module{Path: src.Path, ID: image}, true
	case api.WasmFromHTTP, api.WasmFromArtifact:
		p := m.cachePath(src.Digest)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return module{Path: p, ID: src.Digest}, true
		}
	}
	return module{}, false
}

// Resolve returns the local file of a Wasm image, fetching and verifying
// it first when it is not cached.
func (m *moduleCache) Resolve(ctx context.Context, image string) (module, error) {
	src, err := api.ParseWasmImage(image)
	if err != nil {
		return module{}, fmt.Errorf("image %q: %w", image, err)
	}
	switch src.Kind {
	case api.WasmFromFile:
		fi, err := os.Stat(src.Path)
		if err != nil {
			return module{}, fmt.Errorf("module file %s on this node: %w", src.Path, err)
		}
		if !fi.Mode().IsRegular() {
			return module{}, fmt.Errorf("module file %s on this node is not a regular file", src.Path)
		}
		return module{Path: src.Path, ID: image}, nil
	case api.WasmFromLocalFile:
		return module{}, fmt.Errorf("image %q is a file beside a manifest: `skiff apply` uploads it and rewrites the image; the node cannot read it", image)
	case api.WasmFromHTTP, api.WasmFromArtifact:
	default:
		return module{}, fmt.Errorf("image %q: unknown module source", image)
	}

	unlock := m.lock(src.Digest)
	defer unlock()
	if mod, ok := m.Cached(image); ok {
		return mod, nil
	}
	if err := os.MkdirAll(m.dir, 0o750); err != nil {
		return module{}, fmt.Errorf("module cache: %w", err)
	}
	dst := m.cachePath(src.Digest)
	if src.Kind == api.WasmFromHTTP {
		err = m.fetchHTTP(ctx, src.URL, src.Digest, dst)
	} else {
		err = m.fetchArtifact(ctx, src.Digest, dst)
	}
	if err != nil {
		return module{}, err
	}
	return module{Path: dst, ID: src.Digest}, nil
}

func (m *moduleCache) lock(digest string) (unlock func()) {
	m.mu.Lock()
	l := m.locks[digest]
	if l == nil {
		l = &digestLock{}
		m.locks[digest] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(m.locks, digest)
		}
		m.mu.Unlock()
	}
}

// verifiedFile is a temporary file in the cache that becomes the cached
// module only once its digest matches.
type verifiedFile struct {
	f    *os.File
	h    hash.Hash
	size int64
}

func (m *moduleCache) newVerifiedFile(digest string) (*verifiedFile, error) {
	f, err := os.CreateTemp(m.dir, "."+strings.ReplaceAll(digest, ":", "-")+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("module cache: %w", err)
	}
	return &verifiedFile{f: f, h: sha256.New()}, nil
}

func (v *verifiedFile) Write(p []byte) (int, error) {
	if v.size+int64(len(p)) > maxModuleSize {
		return 0, fmt.Errorf("module is larger than %d bytes", maxModuleSize)
	}
	n, err := v.f.Write(p)
	v.h.Write(p[:n])
	v.size += int64(n)
	return n, err
}

// commit checks the digest and renames the file into place.
func (v *verifiedFile) commit(digest, dst, from string) error {
	got := "sha256:" + hex.EncodeToString(v.h.Sum(nil))
	if got != digest {
		return fmt.Errorf("module from %s has digest %s, not the pinned %s: refused", from, got, digest)
	}
	if err := v.f.Sync(); err != nil {
		return fmt.Errorf("module cache: %w", err)
	}
	if err := v.f.Close(); err != nil {
		return fmt.Errorf("module cache: %w", err)
	}
	if err := os.Rename(v.f.Name(), dst); err != nil {
		return fmt.Errorf("module cache: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// discard removes the temporary file unless commit moved it.
func (v *verifiedFile) discard() {
	_ = v.f.Close()
	_ = os.Remove(v.f.Name())
}

func (m *moduleCache) fetchHTTP(ctx context.Context, url, digest, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch module %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/wasm, application/octet-stream")
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetch module: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch module %s: %s", url, resp.Status)
	}
	vf, err := m.newVerifiedFile(digest)
	if err != nil {
		return err
	}
	defer vf.discard()
	if _, err := io.Copy(vf, resp.Body); err != nil {
		return fmt.Errorf("fetch module %s: %w", url, err)
	}
	return vf.commit(digest, dst, url)
}

// fetchArtifact reads an uploaded module from the control plane's artifact
// store over core NATS, api.ArtifactChunkSize bytes per request.
func (m *moduleCache) fetchArtifact(ctx context.Context, digest, dst string) error {
	subject := api.AgentSubject(m.node, api.AgentArtifact)
	vf, err := m.newVerifiedFile(digest)
	if err != nil {
		return err
	}
	defer vf.discard()
	var offset int64
	size := int64(-1)
	for size < 0 || offset < size {
		chunk, err := m.requestChunk(ctx, subject, api.ArtifactChunkRequest{Digest: digest, Offset: offset, Length: api.ArtifactChunkSize})
		if err != nil {
			return fmt.Errorf("fetch artifact %s at offset %d: %w", digest, offset, err)
		}
		switch {
		case chunk.NotFound:
			return fmt.Errorf("artifact %s is not in the control plane's artifact store (upload it with skiff push or skiff apply)", digest)
		case chunk.Error != "":
			return fmt.Errorf("fetch artifact %s at offset %d: control plane: %s", digest, offset, chunk.Error)
		case chunk.Size < 0 || chunk.Size > maxModuleSize:
			return fmt.Errorf("fetch artifact %s: size %d is not acceptable (at most %d bytes)", digest, chunk.Size, maxModuleSize)
		case size >= 0 && chunk.Size != size:
			return fmt.Errorf("fetch artifact %s: its size changed from %d to %d during the fetch", digest, size, chunk.Size)
		case int64(len(chunk.Data)) > api.ArtifactChunkSize || offset+int64(len(chunk.Data)) > chunk.Size:
			return fmt.Errorf("fetch artifact %s: the control plane sent more than was asked", digest)
		}
		size = chunk.Size
		if len(chunk.Data) == 0 && offset < size {
			return fmt.Errorf("fetch artifact %s: empty chunk at offset %d of %d", digest, offset, size)
		}
		if _, err := vf.Write(chunk.Data); err != nil {
			return fmt.Errorf("fetch artifact %s: %w", digest, err)
		}
		offset += int64(len(chunk.Data))
	}
	return vf.commit(digest, dst, api.ArtifactRef(digest))
}

func (m *moduleCache) requestChunk(ctx context.Context, subject string, req api.ArtifactChunkRequest) (*api.ArtifactChunk, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.requestTimeout)
	defer cancel()
	msg, err := m.nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, errors.New("no control plane answers (is it reachable?)")
		}
		return nil, err
	}
	var chunk api.ArtifactChunk
	if err := json.Unmarshal(msg.Data, &chunk); err != nil {
		return nil, fmt.Errorf("bad answer from the control plane: %w", err)
	}
	return &chunk, nil
}
