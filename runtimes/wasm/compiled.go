package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/skiff-sh/skiff/runtimes"
)

// maxIdleModules is how many compiled modules no task uses are kept in
// memory for a quick restart; older ones are closed (the on-disk cache still
// makes their next compile fast).
const maxIdleModules = 8

// fileKey identifies a module file's version without reading it.
type fileKey struct {
	path    string
	size    int64
	modTime time.Time
}

// compiledModule is one module binary compiled once and shared by every task
// that runs it. Fields other than refs and lastUsed are written once, before
// ready is closed.
type compiledModule struct {
	digest string        // "sha256:<hex>" of the binary
	ready  chan struct{} // closed when compilation ended
	err    error         // compilation error, wrapping runtimes.ErrInvalidImage

	code       wazero.CompiledModule
	minMemory  uint64 // bytes of linear memory the module starts with
	hasStart   bool   // exports _start: a WASI command
	compiledIn time.Duration

	// guarded by Driver.mu
	refs     int // live tasks running this module
	lastUsed time.Time
}

// loadModule returns the compiled module for the file at path, compiling it
// on first use. Concurrent calls for the same binary wait for one
// compilation. The returned module carries a reference the caller gives back
// with releaseModule.
func (d *Driver) loadModule(ctx context.Context, path string) (*compiledModule, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: module %s: %w", runtimes.ErrInvalidImage, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: module %s: not a regular file", runtimes.ErrInvalidImage, path)
	}
	key := fileKey{path: path, size: st.Size(), modTime: st.ModTime()}

	d.mu.Lock()
	digest, known := d.digests[key]
	var m *compiledModule
	if known {
		m = d.modules[digest]
	}
	if m != nil {
		m.refs++
		d.mu.Unlock()
		return d.awaitModule(ctx, m)
	}
	d.mu.Unlock()

	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: module %s: %w", runtimes.ErrInvalidImage, path, err)
	}
	sum := sha256.Sum256(bin)
	digest = "sha256:" + hex.EncodeToString(sum[:])

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errClosed
	}
	d.digests[key] = digest
	m = d.modules[digest]
	if m == nil {
		m = &compiledModule{digest: digest, ready: make(chan struct{})}
		d.modules[digest] = m
		d.wg.Add(1)
		go d.compile(m, path, bin)
	}
	m.refs++
	d.mu.Unlock()
	return d.awaitModule(ctx, m)
}

// awaitModule waits for m's compilation; on failure or cancellation it gives
// the reference back.
func (d *Driver) awaitModule(ctx context.Context, m *compiledModule) (*compiledModule, error) {
	select {
	case <-m.ready:
	case <-ctx.Done():
		d.releaseModule(m)
		return nil, fmt.Errorf("wait for module %s to compile: %w", m.digest, ctx.Err())
	}
	if m.err != nil {
		d.releaseModule(m)
		return nil, m.err
	}
	return m, nil
}

// compile runs in its own goroutine (tracked by d.wg) so that a Start whose
// context ends does not leave a half-compiled module for the next one.
func (d *Driver) compile(m *compiledModule, path string, bin []byte) {
	defer d.wg.Done()
	defer close(m.ready)
	start := time.Now()
	ctx := experimental.WithCompilationWorkers(d.ctx, runtime.GOMAXPROCS(0))
	code, err := d.runtime.CompileModule(ctx, bin)
	m.compiledIn = time.Since(start)
	if err != nil {
		m.err = fmt.Errorf("%w: module %s: %w", runtimes.ErrInvalidImage, path, err)
		d.log.Debug("compile wasm module failed", "module", path, "digest", m.digest, "err", err)
		d.mu.Lock()
		// Forget the failure so that a fixed file is compiled afresh.
		if d.modules[m.digest] == m {
			delete(d.modules, m.digest)
		}
		d.mu.Unlock()
		return
	}
	m.code = code
	for _, def := range code.ImportedMemories() {
		m.minMemory = max(m.minMemory, uint64(def.Min())*wasmPageSize)
	}
	for _, def := range code.ExportedMemories() {
		m.minMemory = max(m.minMemory, uint64(def.Min())*wasmPageSize)
	}
	_, m.hasStart = code.ExportedFunctions()["_start"]
	d.log.Debug("compiled wasm module", "module", path, "digest", m.digest,
		"duration", m.compiledIn, "minMemoryBytes", m.minMemory)
}

// releaseModule gives back a reference from loadModule and closes the least
// recently used idle modules beyond maxIdleModules.
func (d *Driver) releaseModule(m *compiledModule) {
	d.mu.Lock()
	m.refs--
	m.lastUsed = time.Now()
	evict := d.idleBeyondLimitLocked()
	d.mu.Unlock()
	for _, e := range evict {
		if err := e.code.Close(d.ctx); err != nil {
			d.log.Warn("close compiled wasm module", "digest", e.digest, "err", err)
		}
	}
}

// idleBeyondLimitLocked removes and returns the compiled modules to close.
func (d *Driver) idleBeyondLimitLocked() []*compiledModule {
	var idle []*compiledModule
	for _, m := range d.modules {
		if m.refs == 0 && m.compiled() {
			idle = append(idle, m)
		}
	}
	var evict []*compiledModule
	for len(idle) > maxIdleModules {
		oldest := 0
		for i, m := range idle {
			if m.lastUsed.Before(idle[oldest].lastUsed) {
				oldest = i
			}
		}
		m := idle[oldest]
		idle = append(idle[:oldest], idle[oldest+1:]...)
		delete(d.modules, m.digest)
		for k, dg := range d.digests {
			if dg == m.digest {
				delete(d.digests, k)
			}
		}
		evict = append(evict, m)
	}
	return evict
}

// compiled reports that compilation succeeded; reading ready first makes
// the fields written by compile visible.
func (m *compiledModule) compiled() bool {
	select {
	case <-m.ready:
		return m.err == nil
	default:
		return false
	}
}

// errClosed is returned by calls on a closed Driver.
var errClosed = errors.New("wasm driver is closed")
