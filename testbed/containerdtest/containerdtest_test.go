package containerdtest_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/testbed/containerdtest"
)

// readArchive returns the archive's files by name.
func readArchive(t *testing.T, p string) map[string][]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
}

func TestProbeImageArchiveIsAnOCILayoutNamedByRef(t *testing.T) {
	p, ref := containerdtest.ProbeImageArchive(t, "arm64")
	files := readArchive(t, p)
	if _, ok := files["oci-layout"]; !ok {
		t.Fatal("no oci-layout file")
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(idx.Manifests))
	}
	top := idx.Manifests[0]
	if got := top.Annotations[ocispec.AnnotationRefName]; got != ref {
		t.Errorf("ref.name annotation %q, want %q", got, ref)
	}
	if top.Platform != nil {
		t.Errorf("single-platform entry carries a platform %+v; only the config should say it", top.Platform)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(files["blobs/sha256/"+top.Digest.Encoded()], &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(files["blobs/sha256/"+m.Config.Digest.Encoded()], &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.Architecture != "arm64" || cfg.OS != "linux" {
		t.Errorf("config platform %s/%s, want linux/arm64", cfg.OS, cfg.Architecture)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/probe" {
		t.Errorf("entrypoint %q, want [/probe]", cfg.Config.Entrypoint)
	}
	if len(m.Layers) != 1 || files["blobs/sha256/"+m.Layers[0].Digest.Encoded()] == nil {
		t.Fatalf("manifest layers %+v not all in the archive", m.Layers)
	}
}

func TestProbeImageArchiveIsReproducible(t *testing.T) {
	a, _ := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	b, _ := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if string(ba) != string(bb) {
		t.Fatal("two archives of the same probe differ")
	}
}

func TestWriteArchiveRejectsAnUnknownArchitecture(t *testing.T) {
	err := containerdtest.WriteArchive(t.TempDir()+"/x.tar", "x:y", containerdtest.Image{Architecture: "mips"})
	if err == nil || !strings.Contains(err.Error(), "mips") {
		t.Fatalf("err %v, want one naming the architecture", err)
	}
}

func TestDaemonAnswersAndImportsTheProbeImage(t *testing.T) {
	d := containerdtest.Start(t)
	if len(d.Address) >= 108 {
		t.Errorf("socket path %q is too long for a unix socket", d.Address)
	}
	if d.Snapshotter != "overlayfs" && d.Snapshotter != "native" {
		t.Errorf("snapshotter %q", d.Snapshotter)
	}
	c := d.Client(t)
	ctx := t.Context()
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("Version: %v", err)
	}
	p, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := c.Import(namespaces.WithNamespace(ctx, d.Namespace), f)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imgs) != 1 || imgs[0].Name != ref {
		t.Fatalf("imported %+v, want one image named %s", imgs, ref)
	}
	img := client.NewImage(c, imgs[0])
	if err := img.Unpack(namespaces.WithNamespace(ctx, d.Namespace), d.Snapshotter); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if imgs[0].Target.MediaType != images.MediaTypeDockerSchema2Manifest && imgs[0].Target.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("image target %s, want a manifest", imgs[0].Target.MediaType)
	}
}

func TestStopRemovesTheDaemonDirectory(t *testing.T) {
	d := containerdtest.Start(t)
	if err := d.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(d.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("daemon dir %s still there after Stop: %v", d.Dir, err)
	}
	if _, err := os.Stat(d.Address); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still there: %v", err)
	}
}
