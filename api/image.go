package api

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// WasmSourceKind says where an agent gets a Wasm module from.
type WasmSourceKind int

// Where a Wasm module comes from.
const (
	// WasmFromFile is a path on the node: file:///opt/modules/app.wasm.
	WasmFromFile WasmSourceKind = iota + 1
	// WasmFromHTTP is an http(s) URL pinned by digest:
	// https://example.com/app.wasm#sha256=<64 hex digits>.
	WasmFromHTTP
	// WasmFromArtifact is a module in the control plane's artifact store,
	// fetched by the agent over core NATS: skiff://artifacts/sha256:<hex>.
	WasmFromArtifact
	// WasmFromLocalFile is a file beside the manifest (./app.wasm). Only
	// the CLI accepts it: `skiff apply` uploads the file and rewrites the
	// image to a WasmFromArtifact reference.
	WasmFromLocalFile
)

// ArtifactRefPrefix starts the image reference of an uploaded Wasm module.
const ArtifactRefPrefix = "skiff://artifacts/"

// WasmSource is a parsed Wasm module reference.
type WasmSource struct {
	Kind   WasmSourceKind
	Path   string // WasmFromFile, WasmFromLocalFile
	URL    string // WasmFromHTTP, without the digest fragment
	Digest string // "sha256:<hex>" for WasmFromHTTP and WasmFromArtifact
}

// ArtifactRef is the image reference of an uploaded module with this digest.
func ArtifactRef(digest string) string { return ArtifactRefPrefix + digest }

// ParseWasmImage parses a container's image field for a Wasm pod.
func ParseWasmImage(image string) (WasmSource, error) {
	switch {
	case strings.HasPrefix(image, ArtifactRefPrefix):
		d := strings.TrimPrefix(image, ArtifactRefPrefix)
		if err := checkDigest(d); err != nil {
			return WasmSource{}, err
		}
		return WasmSource{Kind: WasmFromArtifact, Digest: d}, nil
	case strings.HasPrefix(image, "file://"):
		p := strings.TrimPrefix(image, "file://")
		if !path.IsAbs(p) {
			return WasmSource{}, fmt.Errorf("file:// reference must hold an absolute path on the node (file:///opt/app.wasm)")
		}
		return WasmSource{Kind: WasmFromFile, Path: p}, nil
	case strings.HasPrefix(image, "http://"), strings.HasPrefix(image, "https://"):
		u, err := url.Parse(image)
		if err != nil || u.Host == "" {
			return WasmSource{}, fmt.Errorf("not a valid URL")
		}
		frag := u.Fragment
		u.Fragment = ""
		d, ok := strings.CutPrefix(frag, "sha256=")
		if !ok {
			return WasmSource{}, fmt.Errorf("an http(s) module must be pinned by its digest: %s#sha256=<64 hex digits>", u.String())
		}
		if err := checkDigest("sha256:" + d); err != nil {
			return WasmSource{}, err
		}
		return WasmSource{Kind: WasmFromHTTP, URL: u.String(), Digest: "sha256:" + d}, nil
	case strings.HasPrefix(image, "./"), strings.HasPrefix(image, "../"), strings.HasSuffix(image, ".wasm") && !strings.Contains(image, "://"):
		return WasmSource{Kind: WasmFromLocalFile, Path: image}, nil
	}
	return WasmSource{}, fmt.Errorf("a Wasm image is %sartifacts/sha256:<hex>, file:///path/on/node.wasm, https://host/m.wasm#sha256=<hex>, or ./local.wasm with skiff apply", "skiff://")
}

func checkDigest(d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("digest %q must be sha256:<64 hex digits>", d)
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return fmt.Errorf("digest %q must be sha256:<64 lowercase hex digits>", d)
	}
	return nil
}

// WasmMagic is the first four bytes of every Wasm binary module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// IsWasmBinary reports whether b starts like a Wasm binary module (magic
// and version 1).
func IsWasmBinary(b []byte) bool {
	return len(b) >= 8 && string(b[:4]) == string(wasmMagic) && b[4] == 1 && b[5] == 0 && b[6] == 0 && b[7] == 0
}
