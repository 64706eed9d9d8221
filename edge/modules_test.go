package edge

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// fakeModule is bytes that start like a Wasm module.
func fakeModule(t *testing.T, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	copy(b, []byte{0, 'a', 's', 'm', 1, 0, 0, 0})
	return b
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestArtifactIsFetchedOverNATSInChunksAndCached(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("wasm")
	e.startAgent(d)
	mod := fakeModule(t, 2*api.ArtifactChunkSize+1000)
	digest := digestOf(mod)
	e.cp.mu.Lock()
	e.cp.artifacts[digest] = mod
	e.cp.mu.Unlock()

	e.cp.pushPod(wasmPod("mod-a", "uid-mod-a", api.ArtifactRef(digest), api.RestartPolicyAlways))
	waitFor(t, "the module pod started", func() bool { return len(d.startsOf("uid-mod-a")) == 1 })
	cfg := d.startsOf("uid-mod-a")[0].cfg
	want := filepath.Join(e.dataDir, "modules", "sha256-"+strings.TrimPrefix(digest, "sha256:")+".wasm")
	if cfg.Image != want {
		t.Fatalf("driver got image %q, want the cached module %q", cfg.Image, want)
	}
	got, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(got, mod) {
		t.Fatalf("cached module differs from the artifact (err %v)", err)
	}
	e.cp.mu.Lock()
	chunks := e.cp.chunkRequests
	e.cp.mu.Unlock()
	if chunks != 3 {
		t.Errorf("fetched in %d chunk requests, want 3", chunks)
	}
	r := e.cp.waitReport(t, "uid-mod-a", "Running", phaseIs(api.PodRunning))
	if id := r.Status.ContainerStatuses[0].ImageID; id != digest {
		t.Errorf("imageID = %q, want %s", id, digest)
	}

	// A second pod with the same module does not fetch it again.
	e.cp.pushPod(wasmPod("mod-b", "uid-mod-b", api.ArtifactRef(digest), api.RestartPolicyAlways))
	waitFor(t, "the second module pod started", func() bool { return len(d.startsOf("uid-mod-b")) == 1 })
	e.cp.mu.Lock()
	chunks = e.cp.chunkRequests
	e.cp.mu.Unlock()
	if chunks != 3 {
		t.Errorf("a cached module was fetched again: %d chunk requests", chunks)
	}
}

func TestArtifactWithWrongDigestIsRefused(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("wasm")
	opts := e.options()
	// Long enough for ErrImagePull to be reported before the retry turns
	// it into ImagePullBackOff.
	opts.RestartBackoff = time.Second
	e.startAgentWith(opts, d)
	mod := fakeModule(t, api.ArtifactChunkSize+10)
	claimed := digestOf([]byte("something else"))
	e.cp.mu.Lock()
	e.cp.artifacts[claimed] = mod
	e.cp.mu.Unlock()

	uid := "uid-tampered"
	e.cp.pushPod(wasmPod("tampered", uid, api.ArtifactRef(claimed), api.RestartPolicyAlways))
	r := e.cp.waitReport(t, uid, "ErrImagePull", waitingReason(ReasonErrImagePull))
	if msg := r.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "digest") || !strings.Contains(msg, "refused") {
		t.Errorf("message = %q, want it to say the digest does not match", msg)
	}
	if r.Status.Phase != api.PodPending {
		t.Errorf("phase = %s, want Pending", r.Status.Phase)
	}
	e.cp.waitReport(t, uid, "ImagePullBackOff on retry", waitingReason(ReasonImagePullBackOff))
	if n := len(d.startsOf(uid)); n != 0 {
		t.Errorf("driver started a module that failed verification (%d starts)", n)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dataDir, "modules"))
	if len(entries) != 0 {
		t.Errorf("module cache holds %d files after a refused fetch", len(entries))
	}
}

func TestMissingArtifactIsReportedAsPullError(t *testing.T) {
	e := newEnv(t)
	e.startAgent(newFakeDriver("wasm"))
	uid := "uid-missing"
	e.cp.pushPod(wasmPod("missing", uid, api.ArtifactRef(digestOf([]byte("nope"))), api.RestartPolicyNever))
	r := e.cp.waitReport(t, uid, "ErrImagePull", waitingReason(ReasonErrImagePull))
	if msg := r.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "not in the control plane's artifact store") {
		t.Errorf("message = %q", msg)
	}
}

func TestHTTPModuleIsVerifiedAndCached(t *testing.T) {
	mod := fakeModule(t, 4096)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/app.wasm":
			_, _ = w.Write(mod)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	e := newEnv(t)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	mc := newModuleCache(filepath.Join(t.TempDir(), "modules"), nc, testNode, srv.Client(), time.Second)
	ctx := context.Background()
	hexDigest := strings.TrimPrefix(digestOf(mod), "sha256:")

	got, err := mc.Resolve(ctx, srv.URL+"/app.wasm#sha256="+hexDigest)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if b, _ := os.ReadFile(got.Path); !bytes.Equal(b, mod) || got.ID != digestOf(mod) {
		t.Fatalf("resolved %+v does not hold the module", got)
	}
	if _, err := mc.Resolve(ctx, srv.URL+"/app.wasm#sha256="+hexDigest); err != nil || hits.Load() != 1 {
		t.Errorf("second resolve: err %v, %d downloads, want 1", err, hits.Load())
	}

	tests := []struct {
		name, image, want string
	}{
		{name: "wrong digest", image: srv.URL + "/app.wasm#sha256=" + strings.Repeat("ab", 32), want: "refused"},
		{name: "not found", image: srv.URL + "/gone.wasm#sha256=" + strings.Repeat("cd", 32), want: "404"},
		{name: "file that is not there", image: "file:///nonexistent/app.wasm", want: "/nonexistent/app.wasm"},
		{name: "not a module reference", image: "nginx:latest", want: "a Wasm image is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mc.Resolve(ctx, tt.image)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestModuleRefusedByDriverBacksOffOrFailsUnderNever(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("wasm")
	d.beforeStart = func(*runtimes.TaskConfig) error {
		return errFakeInvalid
	}
	opts := e.options()
	opts.RestartBackoff, opts.MaxRestartBackoff = 100*time.Millisecond, 400*time.Millisecond
	e.startAgentWith(opts, d)
	file := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(file, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}

	e.cp.pushPod(wasmPod("bad-always", "uid-bad-always", "file://"+file, api.RestartPolicyAlways))
	r := e.cp.waitReport(t, "uid-bad-always", "InvalidModule", waitingReason(ReasonInvalidModule))
	if msg := r.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "magic") {
		t.Errorf("message = %q, want the driver's words", msg)
	}
	waitFor(t, "three attempts", func() bool { return len(d.startsOf("uid-bad-always")) >= 3 })
	starts := d.startsOf("uid-bad-always")
	for i := 1; i < 3; i++ {
		if gap, want := starts[i].at.Sub(starts[i-1].at), backoffDelay(opts.RestartBackoff, opts.MaxRestartBackoff, i); gap < want {
			t.Errorf("attempt %d came after %v, want at least %v of back-off", i+1, gap, want)
		}
	}

	e.cp.pushPod(wasmPod("bad-never", "uid-bad-never", "file://"+file, api.RestartPolicyNever))
	f := e.cp.waitReport(t, "uid-bad-never", "Failed", phaseIs(api.PodFailed))
	term := f.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != ReasonInvalidModule || term.ExitCode == 0 {
		t.Errorf("terminated = %+v, want reason InvalidModule", term)
	}
	if n := len(d.startsOf("uid-bad-never")); n != 1 {
		t.Errorf("Start called %d times under Never, want 1", n)
	}
}

var errFakeInvalid = wrapInvalid("module does not start with the Wasm magic number")

func wrapInvalid(msg string) error { return &invalidModuleError{msg} }

type invalidModuleError struct{ msg string }

func (e *invalidModuleError) Error() string { return runtimes.ErrInvalidImage.Error() + ": " + e.msg }
func (e *invalidModuleError) Unwrap() error { return runtimes.ErrInvalidImage }
