package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// startHollowCLICluster starts an in-process cluster (control plane with
// its controllers, and hollow agents whose pods run at once) and returns
// a cliEnv on its API.
func startHollowCLICluster(t *testing.T, agents int) *cliEnv {
	t.Helper()
	isolateClientConfig(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: agents, Hollow: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	t.Setenv(client.EnvToken, c.Token)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, c.Server.CA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(client.EnvCA, caFile)
	return &cliEnv{t: t, server: c.Server.API.URL(), store: c.Server.Store, nats: c.Server.NATS.ClientURL}
}

// deploymentManifest is a Deployment of replicas pods running image, each
// available a second after it is ready, so that a rollout takes a while.
func deploymentManifest(replicas int, image string, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: %d
  minReadySeconds: 1
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
%s      containers:
      - name: web
        image: %s
`, replicas, extra, image)
}

// applyManifest writes a manifest and applies it.
func (e *cliEnv) applyManifest(content string) string {
	e.t.Helper()
	return e.mustRun("apply", "-f", writeFile(e.t, e.t.TempDir(), "m.yaml", content))
}

// rolloutLines runs rollout status to its end and checks that it ended in
// success; it returns the lines it printed.
func (e *cliEnv) rolloutLines(args ...string) []string {
	e.t.Helper()
	out := e.mustRun(append([]string{"rollout", "status"}, append(args, "--timeout", "60s")...)...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] == lines[i-1] {
			e.t.Errorf("line repeated: %q", lines[i])
		}
	}
	return lines
}

func (e *cliEnv) deployment() *api.Deployment {
	e.t.Helper()
	d, err := store.For[*api.Deployment](e.store).Get(e.t.Context(), "default", "web")
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestRolloutStatusHistoryUndoPauseResumeOnARealCluster(t *testing.T) {
	e := startHollowCLICluster(t, 2)

	// status follows the first rollout as it happens, to its end.
	if out := e.applyManifest(deploymentManifest(4, "registry.local/web:1", "")); out != "deployment.apps/web created\n" {
		t.Fatalf("apply printed %q", out)
	}
	lines := e.rolloutLines("deployment/web")
	if last := lines[len(lines)-1]; last != `deployment "web" successfully rolled out` {
		t.Fatalf("last line %q; output:\n%s", last, strings.Join(lines, "\n"))
	}
	waited := false
	for _, l := range lines[:len(lines)-1] {
		waited = waited || strings.HasPrefix(l, `Waiting for deployment "web" rollout to finish: `) || l == "Waiting for deployment spec update to be observed..."
		if !strings.HasPrefix(l, "Waiting for deployment") {
			t.Errorf("unexpected line %q", l)
		}
	}
	if !waited {
		t.Errorf("no progress line before the end:\n%s", strings.Join(lines, "\n"))
	}

	// A new template: the rollout shows its updated replicas coming up.
	if out := e.applyManifest(deploymentManifest(4, "registry.local/web:2", "")); out != "deployment.apps/web configured\n" {
		t.Fatalf("apply printed %q", out)
	}
	lines = e.rolloutLines("deploy", "web")
	if last := lines[len(lines)-1]; last != `deployment "web" successfully rolled out` || len(lines) < 2 {
		t.Fatalf("second rollout printed:\n%s", strings.Join(lines, "\n"))
	}

	// history lists both revisions, oldest first.
	wantRows(t, e.mustRun("rollout", "history", "deployment/web"),
		[]string{"deployment.apps/web"},
		[]string{"REVISION", "REPLICASET", "IMAGES", "CHANGE-CAUSE"},
		[]string{"1", "web-" + templateHashOf(t, "registry.local/web:1"), "registry.local/web:1", "<none>"},
		[]string{"2", "web-" + controllers.TemplateHash(&e.deployment().Spec.Template), "registry.local/web:2", "<none>"})
	rev1 := e.mustRun("rollout", "history", "deployment/web", "--revision", "1")
	if !strings.HasPrefix(rev1, "deployment.apps/web with revision #1\n") || !strings.Contains(rev1, "registry.local/web:1") ||
		strings.Contains(rev1, controllers.PodTemplateHashLabel) {
		t.Fatalf("history --revision 1:\n%s", rev1)
	}

	// undo puts revision 1's template back, without the hash label; its
	// ReplicaSet becomes revision 3.
	if out := e.mustRun("rollout", "undo", "deployment/web"); out != "deployment.apps/web rolled back\n" {
		t.Fatalf("undo printed %q", out)
	}
	d := e.deployment()
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.local/web:1" {
		t.Fatalf("after undo the template runs %s", img)
	}
	if _, ok := d.Spec.Template.Labels[controllers.PodTemplateHashLabel]; ok {
		t.Fatalf("undo copied the pod-template-hash label: %v", d.Spec.Template.Labels)
	}
	e.rolloutLines("deployment/web")
	wantRows(t, e.mustRun("rollout", "history", "deployment/web"),
		[]string{"deployment.apps/web"},
		[]string{"REVISION", "REPLICASET", "IMAGES", "CHANGE-CAUSE"},
		[]string{"2"},
		[]string{"3", "web-" + templateHashOf(t, "registry.local/web:1"), "registry.local/web:1"})
	if out := e.mustRun("rollout", "undo", "deployment/web", "--to-revision", "3"); !strings.Contains(out, "skipped rollback") {
		t.Fatalf("undo to the current revision printed %q", out)
	}
	if out := e.mustRun("rollout", "undo", "deployment/web", "--to-revision", "2"); out != "deployment.apps/web rolled back\n" {
		t.Fatalf("undo --to-revision 2 printed %q", out)
	}
	if img := e.deployment().Spec.Template.Spec.Containers[0].Image; img != "registry.local/web:2" {
		t.Fatalf("after undo --to-revision 2 the template runs %s", img)
	}
	e.rolloutLines("deployment/web")
	if _, _, err := e.run("rollout", "undo", "deployment/web", "--to-revision", "99"); err == nil || !strings.Contains(err.Error(), "has no revision 99") {
		t.Fatalf("undo to a missing revision: %v", err)
	}

	// pause stops template changes; status says so and fails; resume
	// rolls the change out.
	if out := e.mustRun("rollout", "pause", "deployment/web"); out != "deployment.apps/web paused\n" {
		t.Fatalf("pause printed %q", out)
	}
	if out := e.mustRun("rollout", "pause", "deployment/web"); out != "deployment.apps/web already paused\n" {
		t.Fatalf("second pause printed %q", out)
	}
	// apply keeps spec.paused, which the manifest leaves out.
	if out := e.applyManifest(deploymentManifest(4, "registry.local/web:3", "")); out != "deployment.apps/web configured\n" {
		t.Fatalf("apply to a paused deployment printed %q", out)
	}
	_, _, err := e.run("rollout", "status", "deployment/web", "--timeout", "30s")
	if err == nil || !strings.Contains(err.Error(), `deployment "web" is paused mid-rollout; resume it with: skiff rollout resume deployment/web`) {
		t.Fatalf("status of a paused deployment: %v", err)
	}
	if _, _, err := e.run("rollout", "undo", "deployment/web"); err == nil || !strings.Contains(err.Error(), "is paused: resume it first") {
		t.Fatalf("undo of a paused deployment: %v", err)
	}
	if out := e.mustRun("rollout", "resume", "deployment/web"); out != "deployment.apps/web resumed\n" {
		t.Fatalf("resume printed %q", out)
	}
	e.rolloutLines("deployment/web")
	if d := e.deployment(); d.Status.UpdatedReplicas != 4 || d.Spec.Template.Spec.Containers[0].Image != "registry.local/web:3" {
		t.Fatalf("after resume: %+v", d.Status)
	}
}

// templateHashOf is the template hash of the manifest's template with
// image, as the server stores it (defaulted).
func templateHashOf(t *testing.T, image string) string {
	t.Helper()
	obj, err := api.Decode([]byte(deploymentManifest(4, image, "")))
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*api.Deployment)
	d.Namespace = "default"
	api.SetDefaults(d)
	return controllers.TemplateHash(&d.Spec.Template)
}

func TestRolloutStatusFailsPastTheProgressDeadline(t *testing.T) {
	e := startHollowCLICluster(t, 1)
	// No node has this label: the pods stay Pending and the rollout stalls.
	stuck := strings.Replace(deploymentManifest(2, "registry.local/web:1", "      nodeSelector: {disk: ssd}\n"),
		"  minReadySeconds: 1\n", "  progressDeadlineSeconds: 1\n", 1)
	e.applyManifest(stuck)
	out, _, err := e.run("rollout", "status", "deployment/web", "--timeout", "60s")
	if err == nil || !strings.HasPrefix(err.Error(), `deployment "web" exceeded its progress deadline`) || !strings.Contains(err.Error(), "skiff describe deployment web") {
		t.Fatalf("status of a stalled deployment: %v\n%s", err, out)
	}
	if !strings.Contains(out, `Waiting for deployment "web" rollout to finish: `) {
		t.Fatalf("no progress line before the failure:\n%s", out)
	}
}

func TestRolloutStatusOfADaemonSet(t *testing.T) {
	e := startHollowCLICluster(t, 2)
	e.applyManifest(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: registry.local/agent:1
`)
	lines := e.rolloutLines("ds/agent")
	if last := lines[len(lines)-1]; last != `daemon set "agent" successfully rolled out` {
		t.Fatalf("daemonset rollout printed:\n%s", strings.Join(lines, "\n"))
	}
}
