package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func podManifest(name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  containers:
  - name: main
    image: %s
`, name, image)
}

func wasmPodManifest(name, image string) string {
	return strings.Replace(podManifest(name, image), "spec:\n", "spec:\n  runtimeClassName: wasm\n", 1)
}

// minimalWasm is the smallest valid Wasm module plus a custom section, so
// that two tests' modules can differ.
func minimalWasm(tag string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	// custom section: id 0, size, name length, name
	b = append(b, 0, byte(1+len(tag)), byte(len(tag)))
	return append(b, tag...)
}

func TestApplyCreatesThenReportsUnchangedThenConfigured(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "web.yaml", podManifest("web", "nginx:1.27"))

	if out := e.mustRun("apply", "-f", f); out != "pod/web created\n" {
		t.Fatalf("first apply printed %q", out)
	}
	first := e.pod("default", "web")
	if first == nil || first.Spec.Containers[0].Image != "nginx:1.27" {
		t.Fatalf("stored %+v", first)
	}
	if out := e.mustRun("apply", "-f", f); out != "pod/web unchanged\n" {
		t.Fatalf("second apply printed %q", out)
	}
	if p := e.pod("default", "web"); p.ResourceVersion != first.ResourceVersion {
		t.Fatal("an unchanged apply wrote to the store")
	}

	// Bound by the scheduler meanwhile: the manifest's missing nodeName
	// does not count as a change.
	if _, err := store.For[*api.Pod](e.store).Mutate(t.Context(), "default", "web", func(p *api.Pod) error {
		p.Spec.NodeName = "edge-1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out := e.mustRun("apply", "-f", f); out != "pod/web unchanged\n" {
		t.Fatalf("apply after binding printed %q", out)
	}

	writeFile(t, dir, "web.yaml", podManifest("web", "nginx:1.28"))
	if out := e.mustRun("apply", "-f", f); out != "pod/web configured\n" {
		t.Fatalf("apply of a new image printed %q", out)
	}
	p := e.pod("default", "web")
	if p.Spec.Containers[0].Image != "nginx:1.28" || p.Spec.NodeName != "edge-1" || p.UID != first.UID {
		t.Fatalf("after configure: %+v", p)
	}
}

func TestApplyUploadsLocalWasmModuleRelativeToTheManifest(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	mod := minimalWasm("hello")
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), mod, 0o644); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, dir, "hello.yaml", wasmPodManifest("hello-wasm", "./hello.wasm"))
	t.Chdir(t.TempDir()) // the module is found beside the manifest, not in the working directory

	if out := e.mustRun("apply", "-f", f); out != "pod/hello-wasm created\n" {
		t.Fatalf("apply printed %q", out)
	}
	sum := sha256.Sum256(mod)
	want := api.ArtifactRef("sha256:" + hex.EncodeToString(sum[:]))
	p := e.pod("default", "hello-wasm")
	if p == nil || p.Spec.Containers[0].Image != want {
		t.Fatalf("stored image = %v, want %s", p, want)
	}
	if out := e.mustRun("apply", "-f", f); out != "pod/hello-wasm unchanged\n" {
		t.Fatalf("re-apply printed %q", out)
	}
}

func TestApplyRefusesLocalFileThatIsNotWasm(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	writeFile(t, dir, "x.wasm", "#!/bin/sh\necho not wasm\n")
	writeFile(t, dir, "hello.yaml", wasmPodManifest("hello", "./x.wasm"))
	t.Chdir(dir)
	_, _, err := e.run("apply", "-f", "hello.yaml")
	want := `hello.yaml: spec.containers[0].image: ./x.wasm is not a Wasm module (no \0asm header)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	if p := e.pod("default", "hello"); p != nil {
		t.Fatal("the pod was created")
	}

	writeFile(t, dir, "gone.yaml", wasmPodManifest("gone", "./missing.wasm"))
	_, _, err = e.run("apply", "-f", "gone.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "gone.yaml: spec.containers[0].image: cannot read ./missing.wasm") {
		t.Fatalf("missing module: %v", err)
	}
}

func TestApplySendsValidDocumentsAndReportsEachInvalidOne(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	docs := []string{
		podManifest("good", "nginx:1"),
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: main\n",
		strings.Replace(podManifest("typo", "nginx:1"), "    image:", "    imagee:", 1),
		"apiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n",
		"metadata: [broken\n",
		podManifest("Bad_Name", "nginx:1"),
	}
	writeFile(t, dir, "all.yaml", strings.Join(docs, "---\n"))
	t.Chdir(dir)
	out, _, err := e.run("apply", "-f", "all.yaml")
	if out != "pod/good created\n" {
		t.Fatalf("stdout = %q", out)
	}
	if err == nil {
		t.Fatal("apply of invalid documents succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	wantPrefixes := []string{
		"all.yaml (document 2): spec.containers[0].image: required",
		"all.yaml (document 3): spec.containers[0].imagee: unknown field",
		`all.yaml (document 4): kind: "Gadget" is not a kind Skiff serves`,
		"all.yaml (document 5): invalid YAML",
		`all.yaml (document 6): metadata.name: "Bad_Name" must be a DNS label`,
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("error lines:\n%s\nwant %d lines", err, len(wantPrefixes))
	}
	for i, w := range wantPrefixes {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
	pods, lerr := store.For[*api.Pod](e.store).List(t.Context(), "")
	if lerr != nil || len(pods) != 1 || pods[0].Name != "good" {
		t.Fatalf("store holds %v (%v), want only pod good", pods, lerr)
	}
}

func TestApplyDirectoryAndStandardInput(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", podManifest("b", "nginx:1"))
	writeFile(t, dir, "a.yml", podManifest("a", "nginx:1"))
	writeFile(t, dir, "README.md", "not a manifest")
	if out := e.mustRun("apply", "-f", dir); out != "pod/a created\npod/b created\n" {
		t.Fatalf("directory apply printed %q", out)
	}
	e.createNamespace("edge")
	out, _, err := runCLI(t, podManifest("c", "nginx:1"), "apply", "-f", "-", "-n", "edge", "--server", e.server)
	if err != nil || out != "pod/c created\n" {
		t.Fatalf("stdin apply: %q, %v", out, err)
	}
	if e.pod("edge", "c") == nil {
		t.Fatal("pod c not in namespace edge")
	}
}

func TestApplyNamespaceFlagMustMatchTheManifest(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "p.yaml", strings.Replace(podManifest("p", "nginx:1"), "metadata:\n", "metadata:\n  namespace: prod\n", 1))
	_, _, err := e.run("apply", "-f", f, "-n", "dev")
	if err == nil || !strings.Contains(err.Error(), `metadata.namespace: "prod" does not match --namespace "dev"`) {
		t.Fatalf("error = %v", err)
	}
	e.createNamespace("prod")
	e.mustRun("apply", "-f", f)
	if e.pod("prod", "p") == nil {
		t.Fatal("pod not created in its manifest's namespace")
	}
}

func TestApplyNeedsAFile(t *testing.T) {
	e := startCLIEnv(t)
	if _, _, err := e.run("apply"); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("apply without -f: %v", err)
	}
	_, _, err := e.run("apply", "-f", filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: no such file or directory") {
		t.Fatalf("missing file: %v", err)
	}
}

const shopManifests = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: shop
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: backup:1
`

func TestApplyEveryKindPrintsItsGroup(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "shop.yaml", shopManifests)
	want := "namespace/shop created\nconfigmap/settings created\ndeployment.apps/web created\ncronjob.batch/nightly created\n"
	if out := e.mustRun("apply", "-f", f); out != want {
		t.Fatalf("first apply printed\n%s\nwant\n%s", out, want)
	}
	want = strings.ReplaceAll(want, "created", "unchanged")
	if out := e.mustRun("apply", "-f", f); out != want {
		t.Fatalf("second apply printed\n%s\nwant\n%s", out, want)
	}
	// A ConfigMap has no spec: its data counts as what the manifest says.
	changed := strings.Replace(strings.Replace(shopManifests, "color: blue", "color: green", 1), "nginx:1.27", "nginx:1.28", 1)
	writeFile(t, dir, "shop.yaml", changed)
	want = "namespace/shop unchanged\nconfigmap/settings configured\ndeployment.apps/web configured\ncronjob.batch/nightly unchanged\n"
	if out := e.mustRun("apply", "-f", f); out != want {
		t.Fatalf("apply of changes printed\n%s\nwant\n%s", out, want)
	}
	cm, err := store.For[*api.ConfigMap](e.store).Get(t.Context(), "shop", "settings")
	if err != nil || cm.Data["color"] != "green" {
		t.Fatalf("configmap = %+v, %v", cm, err)
	}
	d, err := store.For[*api.Deployment](e.store).Get(t.Context(), "shop", "web")
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.28" || d.Generation != 2 {
		t.Fatalf("deployment = %+v, %v", d, err)
	}
}

func TestApplyKeepsScaleAndPauseTheManifestLeavesOut(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	manifest := func(image string) string {
		return strings.Replace(strings.Replace(shopManifests[strings.Index(shopManifests, "apiVersion: apps/v1"):strings.Index(shopManifests, "---\napiVersion: batch/v1")],
			"  replicas: 2\n", "", 1), "nginx:1.27", image, 1)
	}
	e.createNamespace("shop")
	f := writeFile(t, dir, "web.yaml", manifest("nginx:1.27"))
	if out := e.mustRun("apply", "-f", f); out != "deployment.apps/web created\n" {
		t.Fatalf("apply printed %q", out)
	}
	e.mustRun("scale", "deploy/web", "--replicas", "5", "-n", "shop")
	e.mustRun("rollout", "pause", "deploy/web", "-n", "shop")
	if out := e.mustRun("apply", "-f", f); out != "deployment.apps/web unchanged\n" {
		t.Fatalf("re-apply after scale and pause printed %q", out)
	}
	writeFile(t, dir, "web.yaml", manifest("nginx:1.28"))
	if out := e.mustRun("apply", "-f", f); out != "deployment.apps/web configured\n" {
		t.Fatalf("apply of a new image printed %q", out)
	}
	d, err := store.For[*api.Deployment](e.store).Get(t.Context(), "shop", "web")
	if err != nil || *d.Spec.Replicas != 5 || !d.Spec.Paused || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.28" {
		t.Fatalf("after apply: replicas %d paused %v image %s (%v)", *d.Spec.Replicas, d.Spec.Paused, d.Spec.Template.Spec.Containers[0].Image, err)
	}
	// A manifest that says replicas and paused wins.
	writeFile(t, dir, "web.yaml", strings.Replace(manifest("nginx:1.28"), "spec:\n  selector:", "spec:\n  replicas: 2\n  paused: false\n  selector:", 1))
	e.mustRun("apply", "-f", f)
	if d, _ := store.For[*api.Deployment](e.store).Get(t.Context(), "shop", "web"); *d.Spec.Replicas != 2 || d.Spec.Paused {
		t.Fatalf("explicit fields not applied: replicas %d paused %v", *d.Spec.Replicas, d.Spec.Paused)
	}
}

func (e *cliEnv) kvRevision() uint64 {
	e.t.Helper()
	_, rev, err := e.store.Revisions(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "web.yaml", podManifest("web", "nginx:1.27"))
	mod := minimalWasm("hello")
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), mod, 0o644); err != nil {
		t.Fatal(err)
	}
	wasm := writeFile(t, dir, "hello.yaml", wasmPodManifest("hello-wasm", "./hello.wasm"))
	rev := e.kvRevision()

	if out := e.mustRun("apply", "-f", f, "--dry-run=server"); out != "pod/web created (server dry run)\n" {
		t.Fatalf("server dry run printed %q", out)
	}
	if out := e.mustRun("apply", "-f", f, "--dry-run=client"); out != "pod/web created (dry run)\n" {
		t.Fatalf("client dry run printed %q", out)
	}
	if out := e.mustRun("apply", "-f", wasm, "--dry-run=server"); out != "pod/hello-wasm created (server dry run)\n" {
		t.Fatalf("server dry run of a local module printed %q", out)
	}
	if got := e.kvRevision(); got != rev || e.pod("default", "web") != nil {
		t.Fatalf("a dry run wrote: revision %d → %d", rev, got)
	}

	e.mustRun("apply", "-f", f)
	writeFile(t, dir, "web.yaml", podManifest("web", "nginx:1.28"))
	rev = e.kvRevision()
	for _, mode := range []string{"client", "server"} {
		want := "pod/web configured (dry run)\n"
		if mode == "server" {
			want = "pod/web configured (server dry run)\n"
		}
		if out := e.mustRun("apply", "-f", f, "--dry-run="+mode); out != want {
			t.Fatalf("%s dry run of a change printed %q", mode, out)
		}
	}
	if p := e.pod("default", "web"); e.kvRevision() != rev || p.Spec.Containers[0].Image != "nginx:1.27" {
		t.Fatalf("a dry run of a change wrote: %+v", p)
	}

	// The server checks what the client cannot: here, a missing namespace.
	_, _, err := e.run("apply", "-f", f, "-n", "nowhere", "--dry-run=server")
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("server dry run into a missing namespace: %v", err)
	}
	for _, bad := range []string{"--dry-run", "--dry-run=maybe"} {
		if _, _, err := e.run("apply", "-f", f, bad); err == nil || !strings.Contains(err.Error(), "--dry-run") {
			t.Fatalf("apply %s: %v", bad, err)
		}
	}
}

// Every workload with a pod template takes a local module, not only Pods
// (fleet delivery): apply uploads it once and stores the template with the
// artifact's reference.
func TestApplyUploadsLocalWasmModulesOfEveryPodTemplate(t *testing.T) {
	e := startCLIEnv(t)
	dir := t.TempDir()
	mod := minimalWasm("sensor")
	if err := os.WriteFile(filepath.Join(dir, "sensor.wasm"), mod, 0o644); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, dir, "fleet.yaml", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: sensor}
spec:
  selector: {matchLabels: {app: sensor}}
  template:
    metadata: {labels: {app: sensor}}
    spec:
      runtimeClassName: wasm
      initContainers: [{name: setup, image: ./sensor.wasm}]
      containers: [{name: sensor, image: ./sensor.wasm}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      runtimeClassName: wasm
      restartPolicy: Never
      containers: [{name: once, image: ./sensor.wasm}]
`)
	if out := e.mustRun("apply", "-f", f); out != "daemonset.apps/sensor created\njob.batch/once created\n" {
		t.Fatalf("apply printed %q", out)
	}
	sum := sha256.Sum256(mod)
	want := api.ArtifactRef("sha256:" + hex.EncodeToString(sum[:]))
	for _, c := range []struct{ kind, name string }{{"DaemonSet", "sensor"}, {"Job", "once"}} {
		info, _ := api.LookupKind(c.kind)
		name := c.name
		obj, err := e.store.GetObject(t.Context(), info, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		spec, path, _ := api.PodSpecOf(obj)
		for i, ctr := range append(append([]api.Container{}, spec.InitContainers...), spec.Containers...) {
			if ctr.Image != want {
				t.Errorf("%s %s: %s container %d image = %q, want %s", c.kind, name, path, i, ctr.Image, want)
			}
		}
	}
	// skiff push prints the same reference for the same module.
	if out := e.mustRun("push", filepath.Join(dir, "sensor.wasm")); out != filepath.Join(dir, "sensor.wasm")+"\t"+want+"\n" {
		t.Fatalf("push printed %q, want the path and %s", out, want)
	}
}

func TestPushRefusesAFileThatIsNotWasm(t *testing.T) {
	e := startCLIEnv(t)
	f := writeFile(t, t.TempDir(), "app.tar", "not a module")
	_, _, err := e.run("push", f)
	if err == nil || !strings.Contains(err.Error(), "is neither a Wasm module") || !strings.Contains(err.Error(), "nor an OCI archive") {
		t.Fatalf("push of a non-module = %v", err)
	}
}
