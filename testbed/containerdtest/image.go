package containerdtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// epoch is the time stamp of every file and image built here, so that the
// same inputs always give the same digests and a second import is a no-op.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Image is a one-layer Linux image to write with WriteArchive.
type Image struct {
	// Architecture is a GOARCH value: "amd64", "arm64", "arm" (armv7).
	Architecture string
	// Entrypoint, Cmd, Env and WorkingDir go to the image config.
	Entrypoint, Cmd, Env []string
	WorkingDir           string
	// Files are the layer's contents.
	Files []File
}

// File is one regular file of a layer.
type File struct {
	// Path inside the image, such as "/probe".
	Path string
	// Mode is the permission bits; 0 means 0o755.
	Mode os.FileMode
	// Source is a file on disk to copy; Data is used when Source is empty.
	Source string
	Data   []byte
}

// ProbeRef is the image reference ProbeImageArchive names its image for
// arch.
func ProbeRef(arch string) string { return "skiff.test/probe:" + arch }

// ProbeImageArchive builds the probe test program for arch (a GOARCH:
// "amd64", "arm64" or "arm") and writes a single-platform OCI archive
// whose image holds it at /probe with Entrypoint ["/probe"], named ref.
// Use runtime.GOARCH for an image this node runs, another arch for one it
// must refuse.
func ProbeImageArchive(t testing.TB, arch string) (archivePath, ref string) {
	t.Helper()
	bin := fixtures.BuildLinux(t, "probe", arch)
	ref = ProbeRef(arch)
	archivePath = filepath.Join(t.TempDir(), "probe-"+arch+".tar")
	err := WriteArchive(archivePath, ref, Image{
		Architecture: arch,
		Entrypoint:   []string{"/probe"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Files:        []File{{Path: "/probe", Mode: 0o755, Source: bin}},
	})
	if err != nil {
		t.Fatalf("write probe image archive: %v", err)
	}
	return archivePath, ref
}

// ProbeIndexArchive writes an archive whose image is a multi-platform index
// with one probe manifest per arch.
func ProbeIndexArchive(t testing.TB, ref string, archs ...string) string {
	t.Helper()
	var imgs []Image
	for _, arch := range archs {
		imgs = append(imgs, Image{
			Architecture: arch,
			Entrypoint:   []string{"/probe"},
			Files:        []File{{Path: "/probe", Mode: 0o755, Source: fixtures.BuildLinux(t, "probe", arch)}},
		})
	}
	p := filepath.Join(t.TempDir(), "probe-index.tar")
	if err := WriteArchive(p, ref, imgs...); err != nil {
		t.Fatalf("write probe index archive: %v", err)
	}
	return p
}

// NodeArch is the architecture images must have to run here.
func NodeArch() string { return runtime.GOARCH }

// WriteArchive writes an OCI image layout archive (a tar holding
// oci-layout, index.json and blobs/sha256/…) to dst. With one image,
// index.json lists its manifest directly and without a platform, as
// `docker save` does, so that only the image config says the architecture.
// With several, index.json lists one image index whose manifests carry
// their platforms. Either way index.json's entry is named ref with the
// org.opencontainers.image.ref.name annotation.
func WriteArchive(dst, ref string, imgs ...Image) (err error) {
	if len(imgs) == 0 {
		return errors.New("write archive: no image")
	}
	if ref == "" {
		return errors.New("write archive: empty ref")
	}
	blobs := map[digest.Digest][]byte{}
	var order []digest.Digest // blobs in the order written
	add := func(mediaType string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		if _, ok := blobs[d]; !ok {
			blobs[d] = b
			order = append(order, d)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}

	var manifests []ocispec.Descriptor
	for i, img := range imgs {
		desc, err := addImage(add, img)
		if err != nil {
			return fmt.Errorf("write archive: image %d: %w", i, err)
		}
		manifests = append(manifests, desc)
	}

	top := manifests[0]
	if len(imgs) > 1 {
		b, err := json.Marshal(ocispec.Index{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageIndex,
			Manifests: manifests,
		})
		if err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		top = add(ocispec.MediaTypeImageIndex, b)
	} else {
		top.Platform = nil
	}
	top.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{top},
	})
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}

	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write archive: %w", cerr)
		}
	}()
	tw := tar.NewWriter(f)
	files := []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layout}, {ocispec.ImageIndexFile, index}}
	for _, d := range order {
		files = append(files, struct {
			name string
			data []byte
		}{path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), blobs[d]})
	}
	for _, dir := range []string{ocispec.ImageBlobsDir, ocispec.ImageBlobsDir + "/sha256"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, fl := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fl.name, Mode: 0o644, Size: int64(len(fl.data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		if _, err := tw.Write(fl.data); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// addImage adds img's layer, config and manifest and returns the
// manifest's descriptor with the image's platform.
func addImage(add func(string, []byte) ocispec.Descriptor, img Image) (ocispec.Descriptor, error) {
	platform, err := ociPlatform(img.Architecture)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer, diffID, err := layerTarGz(img.Files)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layerDesc := add(ocispec.MediaTypeImageLayerGzip, layer)

	created := epoch
	config, err := json.Marshal(ocispec.Image{
		Created:  &created,
		Platform: platform,
		Config: ocispec.ImageConfig{
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			Env:        img.Env,
			WorkingDir: img.WorkingDir,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	configDesc := add(ocispec.MediaTypeImageConfig, config)

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := add(ocispec.MediaTypeImageManifest, manifest)
	desc.Platform = &platform
	return desc, nil
}

// ociPlatform maps a GOARCH to the OCI platform of a Linux image.
func ociPlatform(goarch string) (ocispec.Platform, error) {
	switch goarch {
	case "amd64", "arm64", "386", "riscv64", "ppc64le", "s390x":
		p := ocispec.Platform{OS: "linux", Architecture: goarch}
		if goarch == "arm64" {
			p.Variant = "v8"
		}
		return p, nil
	case "arm":
		return ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, nil
	default:
		return ocispec.Platform{}, fmt.Errorf("architecture %q: want a GOARCH such as amd64, arm64 or arm", goarch)
	}
}

// layerTarGz returns the gzipped layer tar of files and the digest of the
// uncompressed tar (the diff ID).
func layerTarGz(files []File) ([]byte, digest.Digest, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, h))
	dirs := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		if name == "" {
			return nil, "", fmt.Errorf("file path %q: want a file below /", f.Path)
		}
		var parents []string
		for dir := path.Dir(name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
			parents = append(parents, dir)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755, ModTime: epoch}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, "", err
			}
		}
		data := f.Data
		if f.Source != "" {
			if data, err = os.ReadFile(f.Source); err != nil {
				return nil, "", fmt.Errorf("file %s: %w", f.Path, err)
			}
		}
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o755
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), nil
}
