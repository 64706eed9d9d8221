package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeKubernetesPodManifestUnchanged(t *testing.T) {
	doc := `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: team-a
  labels: {app: web}
  annotations: {note: "x"}
spec:
  restartPolicy: OnFailure
  nodeSelector:
    kubernetes.io/arch: arm64
  containers:
  - name: app
    image: nginx:1.27
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c"]
    args: ["echo hi"]
    env:
    - name: MODE
      value: edge
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 1, memory: 128Mi}
`
	obj, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*Pod)
	if p.Name != "web" || p.Namespace != "team-a" || p.Spec.Containers[0].Env[0].Value != "edge" {
		t.Fatalf("decoded %+v", p)
	}
	lim := p.Spec.Containers[0].Resources.Limits
	if lim[ResourceCPU].MilliValue() != 1000 || lim[ResourceMemory].Value() != 128<<20 {
		t.Fatalf("limits = %v", lim)
	}
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatalf("a valid manifest failed validation: %v", err)
	}
}

func TestDecodeErrorsNameTheirPath(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		wantField string
		wantText  string
		decodeErr bool
	}{
		{name: "unknown field deep", give: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    imagee: x\n", wantField: "spec.containers[0].imagee", wantText: "unknown field"},
		{name: "case matters", give: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {Containers: []}\n", wantField: "spec.Containers", wantText: "unknown field"},
		{name: "wrong type", give: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: {name: a}}\n", wantField: "spec.containers", wantText: "expected a list"},
		{name: "bad quantity type", give: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: b, resources: {limits: {memory: [1]}}}]}\n", wantField: "spec.containers[0].resources.limits[memory]", wantText: "quantity"},
		{name: "wrong apiVersion", give: "apiVersion: apps/v1\nkind: Pod\nmetadata: {name: a}\n", wantField: "apiVersion", wantText: "use \"v1\""},
		{name: "unknown kind", give: "apiVersion: v1\nkind: Pud\nmetadata: {name: a}\n", decodeErr: true, wantText: `"Pud" is not a kind`},
		{name: "no kind", give: "apiVersion: v1\nmetadata: {name: a}\n", decodeErr: true, wantText: "kind: required"},
		{name: "invalid yaml", give: "kind: Pod\n  metadata: [\n", decodeErr: true, wantText: "invalid YAML"},
		{name: "not an object", give: "- a\n- b\n", decodeErr: true, wantText: "not an object"},
		{name: "invalid json", give: `{"kind": "Pod",}`, decodeErr: true, wantText: "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.give))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.decodeErr {
				var de *DecodeError
				if !errors.As(err, &de) || !strings.Contains(de.Error(), tt.wantText) {
					t.Fatalf("err = %v (%T), want a DecodeError saying %q", err, err, tt.wantText)
				}
				return
			}
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want FieldErrors", err, err)
			}
			for _, e := range fe {
				if e.Field == tt.wantField && strings.Contains(e.Detail, tt.wantText) {
					return
				}
			}
			t.Fatalf("errors %v do not name %s with %q", fe, tt.wantField, tt.wantText)
		})
	}
}

func TestValidateListsEveryBadField(t *testing.T) {
	p := &Pod{
		ObjectMeta: ObjectMeta{Name: "Bad_Name", Namespace: "default", Labels: map[string]string{"ok": "not ok!"}},
		Spec: PodSpec{
			RuntimeClassName: "wasm",
			RestartPolicy:    "Sometimes",
			Containers: []Container{
				{Name: "a"},
				{Name: "a", Image: "./local.wasm"},
				{Name: "c", Image: "https://example.com/m.wasm", Env: []EnvVar{{Name: "1X"}}, Resources: ResourceRequirements{Limits: ResourceList{"gpu": "1", ResourceMemory: "lots"}}},
			},
		},
	}
	err := Validate(p)
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"metadata.name", "metadata.labels[ok]", "spec.containers[0].image", "spec.containers[1].name",
		"spec.containers[1].image", "spec.containers[2].image", "spec.containers[2].env[0].name",
		"spec.containers[2].resources.limits[gpu]", "spec.containers[2].resources.limits[memory]", "spec.restartPolicy",
	}
	got := map[string]bool{}
	for _, e := range fe {
		got[e.Field] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no error for %s; got %v", w, fe)
		}
	}
	if !strings.Contains(err.Error(), "spec.containers[0].image: required") {
		t.Errorf("message %q does not read like `spec.containers[0].image: required`", err)
	}
}

func TestParseWasmImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		give    string
		want    WasmSourceKind
		wantErr string
	}{
		{give: ArtifactRef(digest), want: WasmFromArtifact},
		{give: "file:///opt/m.wasm", want: WasmFromFile},
		{give: "https://example.com/m.wasm#sha256=" + strings.Repeat("ab", 32), want: WasmFromHTTP},
		{give: "./m.wasm", want: WasmFromLocalFile},
		{give: "https://example.com/m.wasm", wantErr: "pinned by its digest"},
		{give: "file://relative.wasm", wantErr: "absolute path"},
		{give: "skiff://artifacts/sha256:short", wantErr: "64 hex"},
		{give: "nginx:latest", wantErr: "a Wasm image is"},
	}
	for _, tt := range tests {
		got, err := ParseWasmImage(tt.give)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWasmImage(%q) err = %v, want %q", tt.give, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Kind != tt.want {
			t.Errorf("ParseWasmImage(%q) = %+v, %v; want kind %d", tt.give, got, err, tt.want)
		}
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		give        Quantity
		value, mill int64
		bad         bool
	}{
		{give: "128Mi", value: 128 << 20, mill: 128 << 20 * 1000},
		{give: "1G", value: 1e9, mill: 1e12},
		{give: "500m", value: 1, mill: 500},
		{give: "0.25", value: 1, mill: 250},
		{give: "2", value: 2, mill: 2000},
		{give: "-1", bad: true},
		{give: "12Q", bad: true},
		{give: "", bad: true},
	}
	for _, tt := range tests {
		_, err := tt.give.Parse()
		if tt.bad != (err != nil) {
			t.Errorf("Parse(%q) err = %v", tt.give, err)
			continue
		}
		if !tt.bad && (tt.give.Value() != tt.value || tt.give.MilliValue() != tt.mill) {
			t.Errorf("%q: Value %d MilliValue %d; want %d %d", tt.give, tt.give.Value(), tt.give.MilliValue(), tt.value, tt.mill)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := SplitDocuments([]byte("# only a comment\n---\nkind: Pod\n---  \n\n--- # trailing\nkind: Node\n"))
	if len(docs) != 2 || !strings.Contains(string(docs[0]), "Pod") || !strings.Contains(string(docs[1]), "Node") {
		t.Fatalf("docs = %q", docs)
	}
}

// FuzzDecode feeds arbitrary documents to the strict decoder: it must
// return an object or an error, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: b}]}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"}}`))
	f.Add([]byte("kind: Pod\nspec: {containers: [{resources: {limits: {cpu: 1e400}}}]}"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		obj, err := Decode(doc)
		if err == nil {
			SetDefaults(obj)
			_ = Validate(obj)
		}
	})
}
