package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

type applyOptions struct {
	files     []string
	namespace string
	dryRun    string
}

func newApplyCmd() *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from YAML manifests",
		Long: `Create or update the objects of one or more YAML manifests (several
documents per file, separated by ---; every .yaml, .yml and .json file of a
directory; - for standard input). Any kind the API serves may be applied:
` + kindList() + `.

Each object is created, or replaced when one of that name exists, and
reported as kubectl does: deployment.apps/web created, configured (it
changed) or unchanged (nothing the manifest sets differs from what is
stored; nothing is written). The whole object is replaced, except that
spec.replicas and a Deployment's spec.paused keep their stored values when
the manifest leaves them out (so skiff scale and skiff rollout pause
survive a re-apply).

A Wasm pod, or the pod template of a Deployment, ReplicaSet, DaemonSet, Job
or CronJob (runtimeClassName: wasm), may name a module file beside the
manifest as a container's image (image: ./app.wasm): apply uploads it to
the control plane (as skiff push does) and stores the object with the
uploaded copy's reference.

Every document is checked before anything is sent; an invalid one is
reported with its file and fields and not sent.

--dry-run=server sends every object as a dry run: the server checks it as
it would a real one (validation, namespace, quota, your token's rights) and
stores nothing; --dry-run=client only checks the manifests here and reads
the stored objects to say what would change. Neither uploads Wasm modules.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runApply(cmd, o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "manifest file, directory, or - for standard input (repeatable)")
	addNamespaceFlag(cmd, &o.namespace)
	addDryRunFlag(cmd, &o.dryRun)
	return cmd
}

// manifest is one document to apply and where it came from.
type manifest struct {
	label string // "hello.yaml" or "all.yaml (document 2)"
	dir   string // directory local module paths are relative to
	doc   []byte
}

// applyError is a problem with one document, reported as one line.
func applyError(label string, err error) error { return fmt.Errorf("%s: %w", label, err) }

func runApply(cmd *cobra.Command, o applyOptions) error {
	if len(o.files) == 0 {
		return errors.New("name the manifests to apply with -f FILE, -f DIR or -f - (standard input)")
	}
	mode, err := parseDryRun(o.dryRun)
	if err != nil {
		return err
	}
	var docs []manifest
	var errs []error
	for _, f := range o.files {
		m, err := readManifests(f, cmd.InOrStdin())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, m...)
	}

	// Check every document before sending any.
	type ready struct {
		manifest
		obj     api.Object
		modules []localModule // containers whose image is a local module
	}
	var todo []ready
	for _, m := range docs {
		obj, modules, err := prepareObject(m, o.namespace, cmd.Flags().Changed("namespace"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		todo = append(todo, ready{manifest: m, obj: obj, modules: modules})
	}
	if len(todo) == 0 {
		if len(errs) == 0 {
			return errors.New("no objects to apply: the manifests hold no documents")
		}
		return errors.Join(errs...)
	}

	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	uploaded := map[string]string{} // module path → image reference
	for _, r := range todo {
		info := api.KindOf(r.obj)
		label := fmt.Sprintf("%s: %s/%s", r.label, qualifiedKind(info), r.obj.GetObjectMeta().Name)
		// A dry run uploads nothing: the pod keeps the reference the
		// upload would return (prepareObject set it from the digest).
		if mode != dryRunNone {
			r.modules = nil
		}
		if err := uploadModules(cmd.Context(), c, r.modules, uploaded); err != nil {
			if isConnectionError(err) {
				return err
			}
			errs = append(errs, applyError(label, err))
			continue
		}
		result, err := applyObject(cmd.Context(), c, r.obj, r.doc, mode)
		if err != nil {
			if isConnectionError(err) {
				return err // every other document would fail the same way
			}
			errs = append(errs, applyError(label, err))
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s%s\n", qualifiedKind(info), r.obj.GetObjectMeta().Name, result, mode.suffix())
	}
	return errors.Join(errs...)
}

func isConnectionError(err error) bool {
	var ce *client.ConnectionError
	return errors.As(err, &ce)
}

// readManifests reads a file, every manifest file of a directory, or
// standard input ("-"), split into documents.
func readManifests(path string, stdin io.Reader) ([]manifest, error) {
	if path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		return splitManifest("<stdin>", wd, b), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
		}
		return splitManifest(path, filepath.Dir(path), b), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files in this directory", path)
	}
	var out []manifest
	for _, n := range names {
		p := filepath.Join(path, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, unwrapPathError(err))
		}
		out = append(out, splitManifest(p, path, b)...)
	}
	return out, nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func splitManifest(name, dir string, b []byte) []manifest {
	docs := api.SplitDocuments(b)
	out := make([]manifest, len(docs))
	for i, d := range docs {
		label := name
		if len(docs) > 1 {
			label = fmt.Sprintf("%s (document %d)", name, i+1)
		}
		out[i] = manifest{label: label, dir: dir, doc: d}
	}
	return out
}

// prepareObject decodes a document, fills in its namespace and defaults,
// checks the local Wasm modules it names, and validates it as the server
// will. It returns the local module paths to upload by container index.
func prepareObject(m manifest, namespace string, namespaceSet bool) (api.Object, []localModule, error) {
	obj, err := api.Decode(m.doc)
	if err != nil {
		return nil, nil, applyError(m.label, err)
	}
	info := api.KindOf(obj)
	meta := obj.GetObjectMeta()
	if info.Namespaced {
		switch {
		case meta.Namespace == "":
			meta.Namespace = namespaceOrDefault(namespace)
		case namespaceSet && meta.Namespace != namespace:
			return nil, nil, applyError(m.label, fmt.Errorf("metadata.namespace: %q does not match --namespace %q", meta.Namespace, namespace))
		}
	}
	if meta.Name == "" {
		return nil, nil, applyError(m.label, errors.New("metadata.name: required (apply finds the object again by its name)"))
	}
	api.SetDefaults(obj)
	var modules []localModule
	if spec, specPath, ok := api.PodSpecOf(obj); ok && spec.IsWasm() {
		for _, list := range []struct {
			name string
			ctrs []api.Container
		}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
			for i := range list.ctrs {
				ctr := &list.ctrs[i]
				src, err := api.ParseWasmImage(ctr.Image)
				if err != nil || src.Kind != api.WasmFromLocalFile {
					continue // validation reports a bad reference
				}
				field := fmt.Sprintf("%s.%s[%d].image", specPath, list.name, i)
				path := src.Path
				if !filepath.IsAbs(path) {
					path = filepath.Join(m.dir, path)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return nil, nil, applyError(m.label, fmt.Errorf("%s: cannot read %s: %w", field, ctr.Image, unwrapPathError(err)))
				}
				if !api.IsWasmBinary(b) {
					return nil, nil, applyError(m.label, fmt.Errorf("%s: %s is not a Wasm module (no \\0asm header)", field, ctr.Image))
				}
				// Validate with the reference the upload will return.
				sum := sha256.Sum256(b)
				ctr.Image = api.ArtifactRef("sha256:" + hex.EncodeToString(sum[:]))
				modules = append(modules, localModule{container: ctr, field: field, path: path})
			}
		}
	}
	if err := api.Validate(obj); err != nil {
		return nil, nil, applyError(m.label, err)
	}
	return obj, modules, nil
}

// localModule is a container of a manifest whose image is a local Wasm
// file: field names its image, path the file.
type localModule struct {
	container *api.Container
	field     string
	path      string
}

// uploadModules uploads the local modules of an object's pod spec or pod
// template (once per path per run) and points their containers at the
// uploaded copies.
func uploadModules(ctx context.Context, c *client.Client, modules []localModule, uploaded map[string]string) error {
	for _, m := range modules {
		ref, ok := uploaded[m.path]
		if !ok {
			var err error
			if ref, err = pushModule(ctx, c, m.path); err != nil {
				return fmt.Errorf("%s: %w", m.field, err)
			}
			uploaded[m.path] = ref
		}
		m.container.Image = ref
	}
	return nil
}

// pushModule uploads the Wasm module at path (a module, or an OCI archive
// of a Wasm artifact) and returns its reference,
// skiff://artifacts/sha256:<hex>.
func pushModule(ctx context.Context, c *client.Client, path string) (string, error) {
	b, err := moduleFromFile(path)
	if err != nil {
		return "", err
	}
	ref, err := c.UploadArtifact(ctx, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	return ref, nil
}

// updateAttempts bounds the retries of a replace that lost a race.
const updateAttempts = 5

// applyObject creates obj, or replaces the stored object of that name,
// and says which: created, configured or unchanged. doc is the manifest
// obj was decoded from: the fields it leaves out that other commands set
// keep their stored values (keepUnsetFields). A client dry run only reads;
// a server dry run sends the writes with dryRun=All.
func applyObject(ctx context.Context, c *client.Client, obj api.Object, doc []byte, mode dryRunMode) (string, error) {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	if mode == dryRunClient {
		stored, err := c.GetObject(ctx, info, m.Namespace, m.Name)
		switch {
		case client.IsNotFound(err):
			return "created", nil
		case err != nil:
			return "", err
		}
		keepUnsetFields(doc, stored, obj)
		if unchanged(stored, obj) {
			return "unchanged", nil
		}
		return "configured", nil
	}
	if _, err := c.CreateObject(ctx, obj, mode.writeOptions()...); err == nil {
		return "created", nil
	} else if !client.IsAlreadyExists(err) {
		return "", err
	}
	for attempt := 1; ; attempt++ {
		stored, err := c.GetObject(ctx, info, m.Namespace, m.Name)
		if err != nil {
			return "", err
		}
		keepUnsetFields(doc, stored, obj)
		if unchanged(stored, obj) {
			return "unchanged", nil
		}
		m.ResourceVersion = stored.GetObjectMeta().ResourceVersion
		_, err = c.UpdateObject(ctx, obj, mode.writeOptions()...)
		if err == nil {
			return "configured", nil
		}
		if !client.IsConflict(err) || attempt == updateAttempts {
			return "", err
		}
	}
}

// keepUnsetFields keeps the stored values of the fields other commands
// set — spec.replicas (skiff scale) and a Deployment's spec.paused (skiff
// rollout pause) — when the manifest leaves them out, as kubectl apply
// does: re-applying a manifest without replicas does not undo a scale, and
// changes applied to a paused Deployment stay paused until resumed.
func keepUnsetFields(doc []byte, stored, desired api.Object) {
	var m struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if yaml.Unmarshal(doc, &m) != nil {
		return
	}
	_, hasReplicas := m.Spec["replicas"]
	_, hasPaused := m.Spec["paused"]
	switch d := desired.(type) {
	case *api.Deployment:
		if s, ok := stored.(*api.Deployment); ok {
			if !hasReplicas {
				d.Spec.Replicas = s.Spec.Replicas
			}
			if !hasPaused {
				d.Spec.Paused = s.Spec.Paused
			}
		}
	case *api.ReplicaSet:
		if s, ok := stored.(*api.ReplicaSet); ok && !hasReplicas {
			d.Spec.Replicas = s.Spec.Replicas
		}
	}
}

// unchanged reports whether applying desired would change nothing the
// user controls: labels, annotations, and everything outside metadata and
// status (a workload's spec, a ConfigMap's data, a Secret's type and
// data). A pod's spec.nodeName left out of the manifest is the
// scheduler's choice and does not count.
func unchanged(stored, desired api.Object) bool {
	if sp, ok := stored.(*api.Pod); ok {
		if dp, ok := desired.(*api.Pod); ok && dp.Spec.NodeName == "" {
			dp.Spec.NodeName = sp.Spec.NodeName
		}
	}
	sm, dm := stored.GetObjectMeta(), desired.GetObjectMeta()
	return sameJSON(userFields(stored), userFields(desired)) &&
		sameJSON(sm.Labels, dm.Labels) && sameJSON(sm.Annotations, dm.Annotations)
}

// userFields is an object's JSON fields but for its type, metadata and
// status: what a manifest says about it.
func userFields(obj api.Object) map[string]json.RawMessage {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	for _, k := range []string{"apiVersion", "kind", "metadata", "status"} {
		delete(m, k)
	}
	for k, v := range m {
		if emptyJSON(v) {
			delete(m, k)
		}
	}
	return m
}

// sameJSON compares by JSON form: nil and empty maps and lists are equal.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	if emptyJSON(ja) && emptyJSON(jb) {
		return true
	}
	return bytes.Equal(ja, jb)
}

func emptyJSON(s []byte) bool { return string(s) == "null" || string(s) == "{}" || string(s) == "[]" }
