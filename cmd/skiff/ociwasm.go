package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/api"
)

// Media types of a Wasm module inside an OCI artifact: the Wasm OCI
// artifact layout (CNCF TAG Runtime) and the older one some tools write.
const (
	mediaTypeWasmLayer  = "application/vnd.wasm.content.layer.v1+wasm"
	mediaTypeWasmLegacy = "application/wasm"
)

// maxOCIBlob bounds one blob read from an archive (a module, an index or
// a manifest).
const maxOCIBlob = 512 << 20

// moduleFromFile returns the Wasm module in path: the file itself when it
// is a module, or the Wasm layer of an OCI archive (an OCI image layout in
// a tar, optionally gzipped) holding a Wasm artifact. Anything else is an
// error that says what the file is.
func moduleFromFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	if api.IsWasmBinary(b) {
		return b, nil
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: a gzip file that cannot be read: %w", path, err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, 4*maxOCIBlob)); err != nil {
			return nil, fmt.Errorf("%s: a gzip file that cannot be read: %w", path, err)
		}
	}
	blobs, err := readTar(b)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a Wasm module (no \\0asm header) nor an OCI archive: %w", path, err)
	}
	mod, err := wasmFromOCILayout(blobs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mod, nil
}

// readTar reads every regular file of a tar archive.
func readTar(b []byte) (map[string][]byte, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive, or a truncated one: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxOCIBlob+1))
		if err != nil {
			return nil, fmt.Errorf("truncated archive at %s: %w", h.Name, err)
		}
		if len(data) > maxOCIBlob {
			return nil, fmt.Errorf("%s is larger than %d bytes", h.Name, maxOCIBlob)
		}
		files[strings.TrimPrefix(h.Name, "./")] = data
	}
	if len(files) == 0 {
		return nil, errors.New("an empty archive")
	}
	return files, nil
}

// wasmFromOCILayout follows index.json to the one Wasm layer of the
// archive's artifact, checking every digest on the way.
func wasmFromOCILayout(files map[string][]byte) ([]byte, error) {
	idxBytes, ok := files[ocispec.ImageIndexFile]
	if !ok {
		return nil, errors.New("an archive without index.json, so not an OCI image layout")
	}
	var idx ocispec.Index
	if err := json.Unmarshal(idxBytes, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var found [][]byte
	var seen []string
	for _, d := range idx.Manifests {
		mb, err := blob(files, d)
		if err != nil {
			return nil, err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		for _, l := range m.Layers {
			seen = append(seen, l.MediaType)
			if l.MediaType != mediaTypeWasmLayer && l.MediaType != mediaTypeWasmLegacy {
				continue
			}
			lb, err := blob(files, l)
			if err != nil {
				return nil, err
			}
			if !api.IsWasmBinary(lb) {
				return nil, fmt.Errorf("layer %s says it is Wasm but has no \\0asm header", l.Digest)
			}
			found = append(found, lb)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("the OCI archive holds no Wasm layer (%s); layers seen: %s. A container image runs from a registry or with `skiff image import` on the device",
			mediaTypeWasmLayer, strings.Join(seen, ", "))
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("the OCI archive holds %d Wasm layers; push one artifact at a time", len(found))
	}
}

// blob reads the blob a descriptor names and checks its digest and size.
func blob(files map[string][]byte, d ocispec.Descriptor) ([]byte, error) {
	algo, hexSum, ok := strings.Cut(string(d.Digest), ":")
	if !ok || algo != "sha256" {
		return nil, fmt.Errorf("descriptor digest %q: only sha256 is supported", d.Digest)
	}
	b, ok := files["blobs/sha256/"+hexSum]
	if !ok {
		return nil, fmt.Errorf("blob %s is missing from the archive", d.Digest)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != hexSum || int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s does not match its digest or size (%d bytes, descriptor says %d)", d.Digest, len(b), d.Size)
	}
	return b, nil
}
