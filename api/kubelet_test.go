package api

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// A manifest written for Kubernetes, using every field the agent now
// runs; it must apply unchanged.
const kubeletManifest = `
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - name: migrate
    image: example/migrate:1
    envFrom:
    - secretRef:
        name: db
  containers:
  - name: app
    image: example/app:1
    ports:
    - name: http
      containerPort: 8080
    env:
    - name: MODE
      valueFrom:
        configMapKeyRef:
          name: settings
          key: mode
    - name: PASSWORD
      valueFrom:
        secretKeyRef:
          name: db
          key: password
          optional: true
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    envFrom:
    - prefix: CFG_
      configMapRef:
        name: settings
    volumeMounts:
    - name: config
      mountPath: /etc/app
      readOnly: true
    - name: scratch
      mountPath: /tmp/scratch
    - name: certs
      mountPath: /certs
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        httpHeaders:
        - name: X-Probe
          value: "1"
      initialDelaySeconds: 5
    readinessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 2
      successThreshold: 2
    startupProbe:
      exec:
        command: [cat, /tmp/started]
      failureThreshold: 30
  - name: sidecar
    image: example/sidecar:1
    volumeMounts:
    - name: scratch
      mountPath: /scratch
      subPath: side
  volumes:
  - name: config
    configMap:
      name: settings
      items:
      - key: app.yaml
        path: conf/app.yaml
        mode: 0600
  - name: scratch
    emptyDir: {}
  - name: certs
    secret:
      secretName: tls
      defaultMode: 0400
  - name: host
    hostPath:
      path: /var/log
      type: Directory
`

func TestKubernetesPodManifestWithVolumesProbesAndEnvAppliesUnchanged(t *testing.T) {
	obj, err := Decode([]byte(kubeletManifest))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	p := obj.(*Pod)
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	app := p.Spec.Containers[0]
	if lp := app.LivenessProbe; lp.PeriodSeconds != 10 || lp.TimeoutSeconds != 1 || lp.FailureThreshold != 3 || lp.SuccessThreshold != 1 || lp.HTTPGet.Scheme != "HTTP" {
		t.Errorf("liveness probe defaults = %+v", lp)
	}
	if rp := app.ReadinessProbe; rp.PeriodSeconds != 2 || rp.SuccessThreshold != 2 {
		t.Errorf("readiness probe kept its values? %+v", rp)
	}
	if app.Ports[0].Protocol != "TCP" {
		t.Errorf("port protocol default = %q, want TCP", app.Ports[0].Protocol)
	}
	if m := p.Spec.Volumes[0].ConfigMap.DefaultMode; m == nil || *m != 0o644 {
		t.Errorf("configMap defaultMode = %v, want 0644", m)
	}
	if m := p.Spec.Volumes[2].Secret.DefaultMode; m == nil || *m != 0o400 {
		t.Errorf("secret defaultMode = %v, want the manifest's 0400", m)
	}
	refs := p.Spec.Refs()
	if !slices.Equal(refs.ConfigMaps, []string{"settings"}) || !slices.Equal(refs.Secrets, []string{"tls", "db"}) {
		t.Errorf("Refs = %+v, want configMaps [settings] and secrets [tls db]", refs)
	}
	if port, ok := ContainerPortByName(&app, "http"); !ok || port != 8080 {
		t.Errorf("ContainerPortByName(http) = %d, %v", port, ok)
	}
}

func TestPodTemplatesGetProbeDefaults(t *testing.T) {
	d := &Deployment{Spec: DeploymentSpec{Template: PodTemplateSpec{Spec: PodSpec{Containers: []Container{{
		Name: "app", Image: "x", ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: FromInt(80)}}},
	}}}}}}
	SetDefaults(d)
	if rp := d.Spec.Template.Spec.Containers[0].ReadinessProbe; rp.PeriodSeconds != DefaultProbePeriodSeconds || rp.FailureThreshold != DefaultProbeFailureThreshold {
		t.Errorf("template readiness probe = %+v, want Kubernetes' defaults", rp)
	}
}

// fieldsOf returns the fields of a FieldErrors error.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not FieldErrors", err)
	}
	out := map[string]string{}
	for _, e := range fe {
		out[e.Field] = e.Detail
	}
	return out
}

func TestPodSpecKubeletValidationNamesTheField(t *testing.T) {
	probe := func(h ProbeHandler) *Probe { return &Probe{ProbeHandler: h} }
	tcp := ProbeHandler{TCPSocket: &TCPSocketAction{Port: FromInt(80)}}
	tests := []struct {
		name      string
		give      func(*PodSpec)
		wantField string
		wantIn    string
	}{
		{"mount of an unknown volume", func(s *PodSpec) {
			s.Containers[0].VolumeMounts = []VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, "spec.containers[0].volumeMounts[0].name", "not the name of a volume"},
		{"two volumes with one name", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}}, {Name: "v", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}}}
		}, "spec.volumes[1].name", "another volume"},
		{"a volume without a source", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v"}}
		}, "spec.volumes[0]: one of emptyDir, hostPath, configMap, secret", "required"},
		{"a volume with two sources", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}, HostPath: &HostPathVolumeSource{Path: "/x"}}}}
		}, "spec.volumes[0]", "only one"},
		{"a relative hostPath", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{HostPath: &HostPathVolumeSource{Path: "var/log"}}}}
		}, "spec.volumes[0].hostPath.path", "absolute"},
		{"an item path that climbs out", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{Name: "c", Items: []KeyToPath{{Key: "k", Path: "../etc/passwd"}}}}}}
		}, "spec.volumes[0].configMap.items[0].path", "without '..'"},
		{"a mode above 0777", func(s *PodSpec) {
			m := int32(0o1777)
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{Secret: &SecretVolumeSource{SecretName: "s", DefaultMode: &m}}}}
		}, "spec.volumes[0].secret.defaultMode", "file mode"},
		{"an init container named like an app container", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "app", Image: "x"}}
		}, "spec.containers[0].name", "used by another container"},
		{"a probe with no handler", func(s *PodSpec) {
			s.Containers[0].ReadinessProbe = &Probe{}
		}, "spec.containers[0].readinessProbe: one of exec, httpGet, tcpSocket", "required"},
		{"a probe with two handlers", func(s *PodSpec) {
			s.Containers[0].LivenessProbe = probe(ProbeHandler{Exec: &ExecAction{Command: []string{"true"}}, TCPSocket: &TCPSocketAction{Port: FromInt(80)}})
		}, "spec.containers[0].livenessProbe", "only one"},
		{"a gRPC probe", func(s *PodSpec) {
			s.Containers[0].LivenessProbe = probe(ProbeHandler{GRPC: &GRPCAction{Port: 9000}})
		}, "spec.containers[0].livenessProbe.grpc", "not supported"},
		{"a probe on an unnamed port", func(s *PodSpec) {
			s.Containers[0].ReadinessProbe = probe(ProbeHandler{HTTPGet: &HTTPGetAction{Port: FromString("web")}})
		}, "spec.containers[0].readinessProbe.httpGet.port", `"web" is not the name of a port`},
		{"a probe port out of range", func(s *PodSpec) {
			s.Containers[0].ReadinessProbe = probe(ProbeHandler{TCPSocket: &TCPSocketAction{Port: FromInt(70000)}})
		}, "spec.containers[0].readinessProbe.tcpSocket.port", "1 to 65535"},
		{"a liveness probe that needs two successes", func(s *PodSpec) {
			p := probe(tcp)
			p.SuccessThreshold = 2
			s.Containers[0].LivenessProbe = p
		}, "spec.containers[0].livenessProbe.successThreshold", "must be 1"},
		{"a probe on an init container", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "x", ReadinessProbe: probe(tcp)}}
		}, "spec.initContainers[0].readinessProbe", "init container"},
		{"a port out of range", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{{ContainerPort: 0}}
		}, "spec.containers[0].ports[0].containerPort", "1 to 65535"},
		{"a hostPort unlike its containerPort", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}, "spec.containers[0].ports[0].hostPort", "share the node's network"},
		{"two ports with one name", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "http", ContainerPort: 81}}
		}, "spec.containers[0].ports[1].name", "another port"},
		{"a port name that is not an IANA service name", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{{Name: "HTTP", ContainerPort: 80}}
		}, "spec.containers[0].ports[0].name", "lowercase"},
		{"an unknown protocol", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{{ContainerPort: 80, Protocol: "QUIC"}}
		}, "spec.containers[0].ports[0].protocol", "not one of"},
		{"value and valueFrom together", func(s *PodSpec) {
			s.Containers[0].Env = []EnvVar{{Name: "A", Value: "x", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{Name: "c", Key: "k"}}}}
		}, "spec.containers[0].env[0].valueFrom", "value is set"},
		{"a fieldRef Skiff does not offer", func(s *PodSpec) {
			s.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "status.phase"}}}}
		}, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "metadata.name"},
		{"a secret key that is not a file name", func(s *PodSpec) {
			s.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: "s", Key: "a/b"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.key", "letters, digits"},
		{"envFrom naming both kinds", func(s *PodSpec) {
			s.Containers[0].EnvFrom = []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{Name: "c"}, SecretRef: &SecretEnvSource{Name: "s"}}}
		}, "spec.containers[0].envFrom[0]", "only one"},
		{"a relative mount path", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}}}
			s.Containers[0].VolumeMounts = []VolumeMount{{Name: "v", MountPath: "data"}}
		}, "spec.containers[0].volumeMounts[0].mountPath", "absolute"},
		{"one path mounted twice", func(s *PodSpec) {
			s.Volumes = []Volume{{Name: "v", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{}}}}
			s.Containers[0].VolumeMounts = []VolumeMount{{Name: "v", MountPath: "/data"}, {Name: "v", MountPath: "/data/"}}
		}, "spec.containers[0].volumeMounts[1].mountPath", "another volume mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{Containers: []Container{{Name: "app", Image: "x"}}}}
			tt.give(&p.Spec)
			SetDefaults(p)
			err := Validate(p)
			if err == nil {
				t.Fatal("Validate accepted the pod")
			}
			fields := fieldsOf(t, err)
			detail, ok := fields[tt.wantField]
			if !ok {
				t.Fatalf("no error at %s; got %v", tt.wantField, err)
			}
			if !strings.Contains(detail, tt.wantIn) {
				t.Errorf("%s: %q does not say %q", tt.wantField, detail, tt.wantIn)
			}
		})
	}
}

func TestWasmPodsRefuseSocketProbesAndFileHostPaths(t *testing.T) {
	p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{
		RuntimeClassName: RuntimeClassWasm,
		Containers: []Container{{
			Name: "app", Image: "skiff://artifacts/sha256:" + strings.Repeat("a", 64),
			LivenessProbe:  &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: FromInt(8080)}}},
			ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: FromInt(8080)}}},
			StartupProbe:   &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"app", "check"}}}},
		}},
		Volumes: []Volume{{Name: "sock", VolumeSource: VolumeSource{HostPath: &HostPathVolumeSource{Path: "/run/x.sock", Type: HostPathSocket}}}},
	}}
	SetDefaults(p)
	fields := fieldsOf(t, Validate(p))
	for _, f := range []string{"spec.containers[0].livenessProbe.httpGet", "spec.containers[0].readinessProbe.tcpSocket"} {
		if !strings.Contains(fields[f], "no sockets") {
			t.Errorf("%s: %q, want the WASI preview1 reason", f, fields[f])
		}
	}
	if _, ok := fields["spec.containers[0].startupProbe"]; ok {
		t.Errorf("an exec probe of a Wasm pod was refused: %v", fields)
	}
	if !strings.Contains(fields["spec.volumes[0].hostPath.type"], "preopened directories") {
		t.Errorf("hostPath type Socket on a Wasm pod: %q", fields["spec.volumes[0].hostPath.type"])
	}
	if len(fields) != 3 {
		t.Errorf("want exactly three problems, got %v", fields)
	}
}

func TestConfigMapAndSecretDecodeValidateAndDefault(t *testing.T) {
	cmObj, err := Decode([]byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  mode: fast
  app.yaml: |
    a: 1
binaryData:
  logo.png: iVBORw0KGgo=
`))
	if err != nil {
		t.Fatalf("decode ConfigMap: %v", err)
	}
	cm := cmObj.(*ConfigMap)
	SetDefaults(cm)
	if err := Validate(cm); err != nil {
		t.Fatalf("validate ConfigMap: %v", err)
	}
	if v := cm.ConfigMapValues(); string(v["mode"]) != "fast" || string(v["logo.png"]) != "\x89PNG\r\n\x1a\n" {
		t.Errorf("ConfigMapValues = %q", v)
	}
	if k, ok := LookupKind("cm"); !ok || k.Kind != "ConfigMap" || !k.Namespaced {
		t.Errorf("LookupKind(cm) = %+v, %v", k, ok)
	}

	secObj, err := Decode([]byte(`
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
data:
  password: aHVudGVyMg==
stringData:
  user: admin
`))
	if err != nil {
		t.Fatalf("decode Secret: %v", err)
	}
	s := secObj.(*Secret)
	SetDefaults(s)
	if err := Validate(s); err != nil {
		t.Fatalf("validate Secret: %v", err)
	}
	if s.Type != SecretTypeOpaque || s.StringData != nil || string(s.Data["password"]) != "hunter2" || string(s.Data["user"]) != "admin" {
		t.Errorf("defaulted Secret = type %q, data %q, stringData %v", s.Type, s.Data, s.StringData)
	}

	_, err = Decode([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ndata:\n  key: not*base64\n"))
	if f := fieldsOf(t, err)["data[key]"]; !strings.Contains(f, "base64") {
		t.Errorf("bad base64: %v", err)
	}

	bad := &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "default"},
		Data: map[string]string{"a/b": "x", "dup": "1"}, BinaryData: map[string]Bytes{"dup": Bytes("1")}}
	fields := fieldsOf(t, Validate(bad))
	if !strings.Contains(fields["data[a/b]"], "invalid key") || !strings.Contains(fields["binaryData[dup]"], "also in data") {
		t.Errorf("ConfigMap problems = %v", fields)
	}
	tls := &Secret{ObjectMeta: ObjectMeta{Name: "t", Namespace: "default"}, Type: SecretTypeTLS, Data: map[string]Bytes{"tls.crt": Bytes("c")}}
	if f := fieldsOf(t, Validate(tls)); f["data[tls.key]"] != "required" {
		t.Errorf("TLS secret without tls.key: %v", f)
	}
	huge := &ConfigMap{ObjectMeta: ObjectMeta{Name: "h", Namespace: "default"}, Data: map[string]string{"k": strings.Repeat("x", MaxConfigBytes)}}
	if f := fieldsOf(t, Validate(huge)); !strings.Contains(f["data"], "limit") {
		t.Errorf("oversize ConfigMap: %v", f)
	}
}

func TestFieldRefValues(t *testing.T) {
	p := &Pod{ObjectMeta: ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", Labels: map[string]string{"app": "web"}},
		Spec: PodSpec{NodeName: "edge-1"}}
	for give, want := range map[string]string{
		"metadata.name": "web", "metadata.namespace": "shop", "metadata.uid": "u1", "spec.nodeName": "edge-1",
		"status.podIP": "10.0.0.5", "status.hostIP": "10.0.0.5", "metadata.labels['app']": "web", "metadata.annotations['x']": "",
	} {
		got, ok := FieldRefValue(p, give, "10.0.0.5")
		if !ok || got != want {
			t.Errorf("FieldRefValue(%s) = %q, %v; want %q", give, got, ok, want)
		}
	}
	if _, ok := FieldRefValue(p, "status.phase", ""); ok {
		t.Error("status.phase is not offered")
	}
}
