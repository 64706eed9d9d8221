// Package config holds Skiff's whole configuration surface in one Config
// struct (like nats-server's Options): loaded from a YAML file, then
// environment variables, then command-line flags, and validated once.
//
// Package config imports only api and the standard library plus YAML.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
)

// Config is everything a Skiff process can be told.
type Config struct {
	// DataDir holds all state: JetStream files, the agent's pods, logs,
	// module cache. Default ~/.local/share/skiff (or /var/lib/skiff as root).
	DataDir string `json:"dataDir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"logLevel"`
	// LogFormat is text or json.
	LogFormat string `json:"logFormat"`

	API           APIConfig           `json:"api"`
	NATS          NATSConfig          `json:"nats"`
	Agent         AgentConfig         `json:"agent"`
	NodeLifecycle NodeLifecycleConfig `json:"nodeLifecycle"`
	// LeaderTTL is the TTL of the control-plane leader key: a dead leader
	// is replaced within one TTL. Default 10s.
	LeaderTTL time.Duration `json:"leaderTTL"`
	// TLSSANs are extra names (DNS names or IP addresses) of the control
	// plane's serving certificate, besides localhost, the host name and
	// the listen addresses: the names agents and clients reach it by.
	TLSSANs []string `json:"tlsSANs"`
	// SecretsEncryptionKeyring is the file with the AES-256 keys that
	// encrypt Secrets at rest (mode 0600; made on first start). Default
	// <dataDir>/secrets-encryption.json. Every control-plane replica needs
	// the same keys.
	SecretsEncryptionKeyring string `json:"secretsEncryptionKeyring"`
	// Insecure turns TLS and NATS authentication off: the API serves plain
	// HTTP, the embedded NATS accepts anonymous clients over plain TCP
	// and no identities are issued (agents connect without credentials,
	// so a node's labels are only those its agent owns: there is no join
	// to record others).
	// For benchmarks that measure the cost of security only: anyone who
	// reaches the ports owns the cluster, so Validate refuses it unless
	// api.listen and nats.listen are loopback addresses, and with an
	// external NATS (nats.url). Config file or Go only; no flag.
	Insecure bool `json:"insecure"`
}

// APIConfig configures the REST API and dashboard server.
type APIConfig struct {
	// Listen is host:port for HTTP. Default 127.0.0.1:8080.
	Listen string `json:"listen"`
	// MaxBodyBytes caps request bodies (413 above). Default 8 MiB.
	MaxBodyBytes int64 `json:"maxBodyBytes"`
}

// NATSConfig configures the embedded NATS server or the connection to an
// external one.
type NATSConfig struct {
	// Listen is host:port the embedded server listens on for clients
	// (agents, the NATS CLI). Default 127.0.0.1:4222.
	Listen string `json:"listen"`
	// URL of an external NATS with JetStream; when set, no server is
	// embedded.
	URL string `json:"url"`
	// Replicas of the buckets and streams (3 on an external cluster).
	Replicas int `json:"replicas"`
	// NoSync turns off fsync-before-ack in the embedded server. Never in
	// production: acknowledged writes can be lost on power failure.
	NoSync bool `json:"noSync"`
}

// AgentConfig configures an edge agent.
type AgentConfig struct {
	// NodeName is this node's name, a DNS label. Default: the hostname.
	NodeName string `json:"nodeName"`
	// NATSURL is where a standalone agent finds the control plane's NATS.
	NATSURL string `json:"natsURL"`
	// JoinToken (skf1::…, from `skiff token create --join`) is used once,
	// when the agent has no identity yet: it pins the cluster CA and
	// exchanges the token for the node's own credential, kept in the
	// agent's data dir. Ignored once the agent has an identity.
	JoinToken string `json:"joinToken"`
	// Labels are added to the node's labels (besides arch, os, hostname).
	Labels map[string]string `json:"labels"`
	// LeaseInterval is how often the agent renews its lease. Default 10s.
	LeaseInterval time.Duration `json:"leaseInterval"`
	// ResyncInterval is how often the agent re-reports status and asks
	// for its full desired set even without a reconnect. Default 60s.
	ResyncInterval time.Duration `json:"resyncInterval"`
	// Wasm turns on the Wasm runtime (wazero). Default true.
	Wasm *bool `json:"wasm"`
	// WasmDefaultMemoryLimit caps the linear memory of each Wasm container
	// that sets no resources.limits.memory, as if it had set this: Wasm
	// modules run inside the agent's process, so one that allocates
	// without end would take the agent down with the node. A Kubernetes
	// quantity ("128Mi", "1Gi"); "0" sets no cap; 4Gi or more caps
	// nothing, as Wasm's 32-bit memory cannot grow past 4 GiB. Default
	// 128Mi.
	WasmDefaultMemoryLimit api.Quantity `json:"wasmDefaultMemoryLimit"`
	// Containerd turns on the container runtime (containerd). Default:
	// on when ContainerdSocket exists as the agent starts. When it is set
	// to true and containerd does not answer, the agent does not start.
	Containerd *bool `json:"containerd"`
	// ContainerdSocket is containerd's gRPC socket. Default
	// /run/containerd/containerd.sock.
	ContainerdSocket string `json:"containerdSocket"`
	// ContainerdNamespace is the containerd namespace the agent's
	// containers and images live in. Default "skiff".
	ContainerdNamespace string `json:"containerdNamespace"`
	// ContainerdSnapshotter unpacks images and holds containers' root
	// filesystems. Default overlayfs; "native" where overlay mounts do not
	// work.
	ContainerdSnapshotter string `json:"containerdSnapshotter"`
	// RestartBackoff is the first delay before a crashed container, a
	// failed image pull or a refused start is tried again; it doubles up
	// to five minutes. Default 10s, as in Kubernetes.
	RestartBackoff time.Duration `json:"restartBackoff"`
	// HostPathAllow lists the directories of this node that hostPath
	// volumes may name: a pod's hostPath must be one of them or lie
	// beneath one (after cleaning and resolving symlinks), or the agent
	// refuses to run the pod (waiting reason HostPathNotAllowed). Absolute
	// paths; empty (the default) allows no hostPath at all. Like Nomad's
	// host volumes, what a pod may see of the node is the operator's
	// choice, not the pod author's.
	HostPathAllow []string `json:"hostPathAllow"`
}

// Containerd defaults.
const (
	DefaultContainerdSocket    = "/run/containerd/containerd.sock"
	DefaultContainerdNamespace = "skiff"
)

// DefaultWasmMemoryLimit is AgentConfig.WasmDefaultMemoryLimit's default.
const DefaultWasmMemoryLimit api.Quantity = "128Mi"

// wasmPageBytes is the size of a Wasm memory page, the smallest cap.
const wasmPageBytes = 64 << 10

// NodeLifecycleConfig configures how the control plane judges node health.
type NodeLifecycleConfig struct {
	// GracePeriod without a lease renewal before a node is NotReady.
	// Default 40s.
	GracePeriod time.Duration `json:"gracePeriod"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	wasm := true
	return Config{
		DataDir:   defaultDataDir(),
		LogLevel:  "info",
		LogFormat: "text",
		API:       APIConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 8 << 20},
		NATS:      NATSConfig{Listen: "127.0.0.1:4222", Replicas: 1},
		Agent: AgentConfig{
			NodeName:       defaultNodeName(),
			LeaseInterval:  10 * time.Second,
			ResyncInterval: 60 * time.Second,
			Wasm:           &wasm,

			WasmDefaultMemoryLimit: DefaultWasmMemoryLimit,

			ContainerdSocket:    DefaultContainerdSocket,
			ContainerdNamespace: DefaultContainerdNamespace,
		},
		NodeLifecycle: NodeLifecycleConfig{GracePeriod: 40 * time.Second},
		LeaderTTL:     10 * time.Second,
	}
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/skiff"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "skiff")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "skiff")
	}
	return filepath.Join(home, ".local", "share", "skiff")
}

func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return "node-1"
	}
	h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	if api.ValidateName(h) != nil {
		return "node-1"
	}
	return h
}

// LoadFile overlays a YAML config file onto c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	b, err = durationsAsNanoseconds(b)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// durationsAsNanoseconds rewrites durations written as in the docs ("10s",
// "1m30s") into the nanoseconds a time.Duration field decodes from. A file
// without such values comes back unchanged; one that cannot be read is left
// for UnmarshalStrict to report.
func durationsAsNanoseconds(b []byte) ([]byte, error) {
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return b, nil
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return b, nil
	}
	changed, err := rewriteDurations(reflect.TypeFor[Config](), doc, "")
	if err != nil || !changed {
		return b, err
	}
	return json.Marshal(doc)
}

func rewriteDurations(t reflect.Type, v any, path string) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		return false, nil
	}
	changed := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		for k, fv := range m {
			if !strings.EqualFold(k, name) { // encoding/json matches keys this way
				continue
			}
			switch {
			case f.Type == reflect.TypeFor[time.Duration]():
				s, ok := fv.(string)
				if !ok {
					continue
				}
				dur, err := time.ParseDuration(s)
				if err != nil {
					return false, fmt.Errorf("%s: %q is not a duration like 10s or 1m30s", p, s)
				}
				m[k] = json.Number(strconv.FormatInt(int64(dur), 10))
				changed = true
			case f.Type.Kind() == reflect.Struct:
				c, err := rewriteDurations(f.Type, fv, p)
				if err != nil {
					return false, err
				}
				changed = changed || c
			}
		}
	}
	return changed, nil
}

// WasmEnabled reports whether the agent offers the Wasm runtime.
func (a AgentConfig) WasmEnabled() bool { return a.Wasm == nil || *a.Wasm }

// ContainerdMode says whether the agent offers the container runtime:
// enabled, and whether that was asked for (true) or follows from the
// socket being there (false). It looks at the socket only when Containerd
// is unset.
func (a AgentConfig) ContainerdMode() (enabled, explicit bool) {
	if a.Containerd != nil {
		return *a.Containerd, true
	}
	sock := strings.TrimPrefix(a.ContainerdSocketOrDefault(), "unix://")
	st, err := os.Stat(sock)
	return err == nil && st.Mode()&os.ModeSocket != 0, false
}

// ContainerdSocketOrDefault is ContainerdSocket, or the default when empty.
func (a AgentConfig) ContainerdSocketOrDefault() string {
	if a.ContainerdSocket == "" {
		return DefaultContainerdSocket
	}
	return a.ContainerdSocket
}

// ContainerdNamespaceOrDefault is ContainerdNamespace, or the default when
// empty.
func (a AgentConfig) ContainerdNamespaceOrDefault() string {
	if a.ContainerdNamespace == "" {
		return DefaultContainerdNamespace
	}
	return a.ContainerdNamespace
}

// validContainerdNamespace follows containerd's rule for identifiers:
// letters, digits, '.', '_' and '-', starting and ending with a letter or
// digit, at most 76 characters.
func validContainerdNamespace(ns string) bool {
	if ns == "" || len(ns) > 76 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !alnum(c) && !(i > 0 && i < len(ns)-1 && (c == '.' || c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// validWasmMemoryLimit accepts 0 (no cap) or a quantity of at least one
// Wasm page.
func validWasmMemoryLimit(q api.Quantity) error {
	if strings.TrimSpace(string(q)) == "" {
		return fmt.Errorf("empty: want a quantity like 128Mi, or 0 for no default cap")
	}
	if _, err := q.Parse(); err != nil {
		return fmt.Errorf("%q is not a memory quantity (like 128Mi or 1Gi; 0 for no default cap)", string(q))
	}
	if v := q.Value(); v != 0 && v < wasmPageBytes {
		return fmt.Errorf("%q is less than one Wasm page (64Ki); use at least 64Ki, or 0 for no default cap", string(q))
	}
	return nil
}

// checkHostPathPrefix accepts an absolute, clean directory path other
// than "/": allowing "/" would allow the whole node, which is what the
// list exists to prevent.
func checkHostPathPrefix(p string) error {
	switch {
	case !filepath.IsAbs(p):
		return fmt.Errorf("%q is not an absolute path", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("%q is not a clean path (write %q)", p, filepath.Clean(p))
	case p == "/":
		return errors.New(`"/" would allow every path of the node; name the directories pods may mount`)
	}
	return nil
}

// WasmDefaultMemoryLimitBytes is WasmDefaultMemoryLimit in bytes, 0 for no
// cap. Validate has checked it.
func (a AgentConfig) WasmDefaultMemoryLimitBytes() int64 { return a.WasmDefaultMemoryLimit.Value() }

// Path joins parts under DataDir.
func (c *Config) Path(parts ...string) string {
	return filepath.Join(append([]string{c.DataDir}, parts...)...)
}

// Validate checks the configuration and returns every problem, each naming
// its field.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir: required"))
	}
	for _, l := range []struct{ name, addr string }{{"api.listen", c.API.Listen}, {"nats.listen", c.NATS.Listen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", l.name, l.addr))
		}
	}
	if c.Agent.NodeName != "" {
		if err := api.ValidateName(c.Agent.NodeName); err != nil {
			errs = append(errs, fmt.Errorf("agent.nodeName: %w", err))
		}
	}
	if c.Agent.JoinToken != "" {
		if _, err := api.ParseJoinToken(c.Agent.JoinToken); err != nil {
			errs = append(errs, fmt.Errorf("agent.joinToken: %w", err))
		}
	}
	for i, san := range c.TLSSANs {
		if san == "" || strings.ContainsAny(san, " /*") {
			errs = append(errs, fmt.Errorf("tlsSANs[%d]: %q is not a host name or IP address", i, san))
		}
	}
	if c.Agent.LeaseInterval <= 0 {
		errs = append(errs, errors.New("agent.leaseInterval: must be more than 0"))
	}
	if c.Agent.ResyncInterval <= 0 {
		errs = append(errs, errors.New("agent.resyncInterval: must be more than 0"))
	}
	if ns := c.Agent.ContainerdNamespace; ns != "" && !validContainerdNamespace(ns) {
		errs = append(errs, fmt.Errorf("agent.containerdNamespace: %q is not a containerd namespace "+
			"(letters, digits, '.', '_' and '-', at most 76, starting and ending with a letter or digit)", ns))
	}
	if s := c.Agent.ContainerdSocket; s != "" && !filepath.IsAbs(strings.TrimPrefix(s, "unix://")) {
		errs = append(errs, fmt.Errorf("agent.containerdSocket: %q is not an absolute path", s))
	}
	if err := validWasmMemoryLimit(c.Agent.WasmDefaultMemoryLimit); err != nil {
		errs = append(errs, fmt.Errorf("agent.wasmDefaultMemoryLimit: %w", err))
	}
	for i, p := range c.Agent.HostPathAllow {
		if err := checkHostPathPrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("agent.hostPathAllow[%d]: %w", i, err))
		}
	}
	if c.Agent.RestartBackoff < 0 {
		errs = append(errs, errors.New("agent.restartBackoff: must not be negative"))
	}
	if c.NodeLifecycle.GracePeriod <= c.Agent.LeaseInterval {
		errs = append(errs, errors.New("nodeLifecycle.gracePeriod: must be longer than agent.leaseInterval"))
	}
	if k := c.SecretsEncryptionKeyring; k != "" && !filepath.IsAbs(k) {
		errs = append(errs, fmt.Errorf("secretsEncryptionKeyring: %q is not an absolute path", k))
	}
	if c.Insecure {
		errs = append(errs, c.validateInsecure()...)
	}
	if c.LeaderTTL < time.Second {
		errs = append(errs, errors.New("leaderTTL: must be at least 1s"))
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		errs = append(errs, errors.New("nats.replicas: must be 1 to 5"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("logFormat: %q is not text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// validateInsecure allows Insecure on loopback listen addresses only, and
// with the embedded NATS only (it keeps an external NATS's trust).
func (c *Config) validateInsecure() []error {
	var errs []error
	const why = "insecure (no TLS, no NATS authentication) is for benchmarks on one machine only"
	for _, l := range []struct{ name, addr string }{{"api.listen", c.API.Listen}, {"nats.listen", c.NATS.Listen}} {
		host, _, err := net.SplitHostPort(l.addr)
		if err != nil {
			continue // reported above
		}
		if !isLoopback(host) {
			errs = append(errs, fmt.Errorf("insecure: %s %q is not a loopback address (127.0.0.1, ::1, localhost); %s", l.name, l.addr, why))
		}
	}
	if c.NATS.URL != "" {
		errs = append(errs, fmt.Errorf("insecure: nats.url is set; %s, with the embedded NATS", why))
	}
	return errs
}

// isLoopback reports whether host (of a listen address) is a loopback
// address or localhost; "" (every interface) is not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Platform is this process's os and arch in Kubernetes' label values
// (arm for armv7, as kubernetes.io/arch does).
func Platform() (goos, goarch string) { return runtime.GOOS, runtime.GOARCH }
