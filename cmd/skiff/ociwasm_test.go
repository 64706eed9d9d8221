package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/api"
)

// ociArchive builds an OCI image layout in a tar: one manifest whose one
// layer has mediaType and content layer. corrupt changes the layer's bytes
// after its digest was taken.
func ociArchive(t *testing.T, mediaType string, layer []byte, corrupt bool) []byte {
	t.Helper()
	files := map[string][]byte{}
	put := func(b []byte, mt string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		files["blobs/sha256/"+d.Digest.Encoded()] = b
		return d
	}
	cfg := put([]byte("{}"), "application/vnd.wasm.config.v0+json")
	ld := put(layer, mediaType)
	if corrupt {
		files["blobs/sha256/"+ld.Digest.Encoded()] = append([]byte{}, append(layer, 'x')...)
	}
	m, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{ld}})
	md := put(m, ocispec.MediaTypeImageManifest)
	idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{md}})
	files[ocispec.ImageIndexFile] = idx
	files[ocispec.ImageLayoutFile] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(b)
	}
	_ = tw.Close()
	return buf.Bytes()
}

func TestPushTakesTheWasmLayerOfAnOCIArtifact(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	mod := minimalWasm("oci")
	sum := sha256.Sum256(mod)
	want := api.ArtifactRef("sha256:" + hex.EncodeToString(sum[:]))
	plain := writeFile(t, dir, "module.tar", string(ociArchive(t, mediaTypeWasmLayer, mod, false)))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(ociArchive(t, mediaTypeWasmLegacy, mod, false))
	_ = zw.Close()
	zipped := writeFile(t, dir, "module.tar.gz", gz.String())
	for _, f := range []string{plain, zipped} {
		if out := e.mustRun("push", f); out != f+"\t"+want+"\n" {
			t.Errorf("push %s printed %q, want %s", filepath.Base(f), out, want)
		}
	}
}

func TestPushRefusesOCIArchivesItCannotUseAndSaysWhy(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	mod := minimalWasm("bad")
	full := ociArchive(t, mediaTypeWasmLayer, mod, false)
	// One good push, so that the store exists and counts.
	e.mustRun("push", writeFile(t, dir, "good.wasm", string(minimalWasm("good"))))
	tests := []struct {
		name, content, want string
	}{
		{"image.tar", string(ociArchive(t, ocispec.MediaTypeImageLayerGzip, []byte("not wasm"), false)), "holds no Wasm layer"},
		{"corrupt.tar", string(ociArchive(t, mediaTypeWasmLayer, mod, true)), "does not match its digest"},
		{"truncated.tar", string(full[:len(full)/2]), "truncated"},
		{"fake.tar", string(ociArchive(t, mediaTypeWasmLayer, []byte("#!/bin/sh"), false)), "has no \\0asm header"},
	}
	for _, tt := range tests {
		f := writeFile(t, dir, tt.name, tt.content)
		_, _, err := e.run("push", f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("push %s = %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
	// Nothing was stored by the refused pushes.
	if got := e.artifacts(t); len(got) != 1 {
		t.Errorf("artifacts stored = %v, want only the good module", got)
	}
}

// artifacts lists what the artifact store holds (none when it was never
// written).
func (e *cliEnv) artifacts(t *testing.T) []string {
	t.Helper()
	obs, err := e.js.ObjectStore(t.Context(), api.ArtifactsBucket)
	if err != nil {
		return nil
	}
	infos, err := obs.List(t.Context())
	if err != nil {
		return nil
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	return names
}
