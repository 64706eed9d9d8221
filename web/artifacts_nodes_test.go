package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// wasmModule is the smallest valid Wasm module: magic and version.
func wasmModule() []byte { return []byte("\x00asm\x01\x00\x00\x00") }

func TestUploadArtifactReturnsDigestAndImage(t *testing.T) {
	a := startTestAPI(t)
	mod := wasmModule()
	for _, ct := range []string{"application/wasm", "application/octet-stream"} {
		r := a.do(http.MethodPost, "/api/v1/artifacts", ct, mod).want(t, http.StatusCreated)
		var got api.Artifact
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(mod)
		wantDigest := "sha256:" + hex.EncodeToString(sum[:])
		if got.Digest != wantDigest || got.Image != api.ArtifactRef(wantDigest) || got.Size != int64(len(mod)) {
			t.Fatalf("upload answer = %+v, want digest %s", got, wantDigest)
		}
		if _, err := api.ParseWasmImage(got.Image); err != nil {
			t.Fatalf("image %q does not parse: %v", got.Image, err)
		}
	}
}

func TestNodesListAndGet(t *testing.T) {
	a := startTestAPI(t)
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}
	n.Status.NodeInfo = api.NodeSystemInfo{Architecture: "arm64", OperatingSystem: "linux"}
	if err := store.For[*api.Node](a.store).Create(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	r := a.do(http.MethodGet, "/api/v1/nodes", "", nil).want(t, http.StatusOK)
	var list struct {
		Kind  string     `json:"kind"`
		Items []api.Node `json:"items"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "NodeList" || len(list.Items) != 1 || list.Items[0].Name != "edge-1" || list.Items[0].Kind != "Node" {
		t.Fatalf("node list = %s", r.body)
	}
	r = a.do(http.MethodGet, "/api/v1/nodes/edge-1", "", nil).want(t, http.StatusOK)
	var got api.Node
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.NodeInfo.Architecture != "arm64" {
		t.Fatalf("node = %s", r.body)
	}
	st := a.do(http.MethodGet, "/api/v1/nodes/edge-9", "", nil).want(t, http.StatusNotFound).status(t)
	if st.Details == nil || st.Details.Kind != "Node" || st.Details.Name != "edge-9" {
		t.Fatalf("status = %+v", st)
	}
}
