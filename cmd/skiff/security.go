package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/web/client"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage nodes' identities"}
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke NAME...",
		Short: "Revoke nodes' credentials (they are disconnected at once) and delete the Nodes",
		Long: `Revoking a node adds its key to the NATS account's revocations: every NATS server
drops its connection and refuses it from then on. The Node is deleted, so its pods
are replaced elsewhere. The device must join again with a new join token.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := c.RevokeNode(cmd.Context(), name); err != nil {
					return fmt.Errorf("revoke node %s: %w", name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node %q revoked and deleted\n", name)
			}
			return nil
		},
	})
	return cmd
}

// kubeconfig is the part of a kubeconfig file Skiff writes.
type kubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []namedCluster `json:"clusters"`
	Users          []namedUser    `json:"users"`
	Contexts       []namedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
}

type namedCluster struct {
	Name    string `json:"name"`
	Cluster struct {
		Server                   string `json:"server"`
		CertificateAuthorityData string `json:"certificate-authority-data"`
	} `json:"cluster"`
}

type namedUser struct {
	Name string `json:"name"`
	User struct {
		Token string `json:"token"`
	} `json:"user"`
}

type namedContext struct {
	Name    string `json:"name"`
	Context struct {
		Cluster string `json:"cluster"`
		User    string `json:"user"`
	} `json:"context"`
}

func newKubeconfigCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a kubeconfig for kubectl: the API server, the cluster CA and this client's token",
		Example: `  skiff kubeconfig > ~/.kube/config && kubectl get pods
  KUBECONFIG=<(skiff kubeconfig) kubectl get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server, token, ca, err := clientSettings(cmd)
			if err != nil {
				return err
			}
			if len(ca) == 0 {
				return fmt.Errorf("no cluster CA for %s: the client config (%s) has none and $%s is not set; `skiff up` or `skiff server` writes it", server, client.DefaultConfigPath(), client.EnvCA)
			}
			if token == "" {
				return fmt.Errorf("no token for %s: set $%s or the token in %s", server, client.EnvToken, client.DefaultConfigPath())
			}
			var kc kubeconfig
			kc.APIVersion, kc.Kind, kc.CurrentContext = "v1", "Config", name
			var cl namedCluster
			cl.Name = name
			cl.Cluster.Server = server
			cl.Cluster.CertificateAuthorityData = base64.StdEncoding.EncodeToString(ca)
			var u namedUser
			u.Name = name
			u.User.Token = token
			var ctx namedContext
			ctx.Name = name
			ctx.Context.Cluster, ctx.Context.User = name, name
			kc.Clusters, kc.Users, kc.Contexts = []namedCluster{cl}, []namedUser{u}, []namedContext{ctx}
			b, err := yaml.Marshal(kc)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "skiff", "name of the cluster, user and context")
	return cmd
}

// clientSettings are the server, token and CA client commands use.
func clientSettings(cmd *cobra.Command) (server, token string, ca []byte, err error) {
	flagValue := ""
	if f := cmd.Flags().Lookup(serverFlag); f != nil {
		flagValue = f.Value.String()
	}
	if server, err = client.ResolveServer(flagValue); err != nil {
		return "", "", nil, err
	}
	if token, err = client.ResolveToken(server); err != nil {
		return "", "", nil, err
	}
	ca, err = client.ResolveCA(server)
	return server, token, ca, err
}

// natsContext is a NATS CLI context file (~/.config/nats/context/NAME.json).
type natsContext struct {
	Description string `json:"description"`
	URL         string `json:"url"`
	Creds       string `json:"creds"`
	CA          string `json:"ca"`
	InboxPrefix string `json:"inbox_prefix"`
}

func newNATSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "nats", Short: "Credentials for the NATS CLI"}
	var name, dir string
	ctxCmd := &cobra.Command{
		Use:   "context",
		Short: "Write a NATS CLI context with a read-only events credential",
		Long: `Makes an nkey here, asks the API for a read-only events credential for it (any token
of all namespaces), and writes a NATS CLI context: the credential (0600), the cluster
CA and the inbox prefix the credential allows. The credential may subscribe to
skiff.events.> and read stream SKIFF_EVENTS' messages directly; nothing else.`,
		Example: `  skiff nats context
  nats --context skiff-events sub 'skiff.events.>'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			kp, err := nkeys.CreateUser()
			if err != nil {
				return err
			}
			pub, _ := kp.PublicKey()
			seed, _ := kp.Seed()
			cred, err := c.NATSCredential(cmd.Context(), pub)
			if err != nil {
				return fmt.Errorf("events credential: %w", err)
			}
			if dir == "" {
				dir = defaultNATSContextDir()
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			creds, err := jwt.FormatUserConfig(cred.JWT, seed)
			if err != nil {
				return err
			}
			credsPath := filepath.Join(dir, name+".creds")
			caPath := filepath.Join(dir, name+"-ca.crt")
			if err := os.WriteFile(credsPath, creds, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(caPath, []byte(cred.CA), 0o644); err != nil {
				return err
			}
			b, _ := json.MarshalIndent(natsContext{
				Description: "Skiff events, read-only (skiff nats context)",
				URL:         cred.URL, Creds: credsPath, CA: caPath, InboxPrefix: cred.InboxPrefix,
			}, "", "  ")
			ctxPath := filepath.Join(dir, name+".json")
			if err := os.WriteFile(ctxPath, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "NATS context %q written to %s\nTry: nats --context %s sub 'skiff.events.>'\n", name, ctxPath, name)
			return nil
		},
	}
	ctxCmd.Flags().StringVar(&name, "name", "skiff-events", "the context's name")
	ctxCmd.Flags().StringVar(&dir, "dir", "", "where to write it (default: the NATS CLI's context directory, ~/.config/nats/context)")
	cmd.AddCommand(ctxCmd, newNATSServerConfigCmd())
	return cmd
}

// newNATSServerConfigCmd writes what an external nats-server needs to trust
// this control plane's identities.
func newNATSServerConfigCmd() *cobra.Command {
	cfg := config.Default()
	var listen, storeDir, out, serverName string
	var sans []string
	cmd := &cobra.Command{
		Use:   "server-config --listen HOST:PORT --out FILE",
		Short: "Write the configuration of an external nats-server that trusts this control plane",
		Long: `Makes (or reads) the control plane's NATS trust and cluster CA in --data-dir, issues the
NATS server's TLS certificate, and writes a nats-server configuration: operator mode with
Skiff's operator, a full account resolver, JetStream syncing every write, TLS required.
Then run nats-server -c FILE, and skiff server --nats-url tls://HOST:PORT with the same
--data-dir (copy its pki/ directory to every control-plane replica). Agents join and
reconnect with their own identities whether or not a control plane is up.`,
		Example: `  skiff nats server-config --data-dir /var/lib/skiff --listen 10.0.0.5:4222 --out /etc/nats/skiff.conf
  nats-server -c /etc/nats/skiff.conf
  skiff server --data-dir /var/lib/skiff --nats-url tls://10.0.0.5:4222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || out == "" {
				return fmt.Errorf("--listen (where nats-server listens, HOST:PORT) and --out (the file to write) are required")
			}
			dir := pki.Dir(cfg)
			ca, err := pki.LoadOrCreateCA(dir)
			if err != nil {
				return err
			}
			keys, err := natsauth.LoadOrCreateKeys(dir)
			if err != nil {
				return err
			}
			certFile, keyFile := filepath.Join(dir, "nats-server.crt"), filepath.Join(dir, "nats-server.key")
			if _, err := ca.ServerCertificateAt(certFile, keyFile, pki.ServerNames([]string{listen}, sans)); err != nil {
				return err
			}
			if storeDir == "" {
				storeDir = cfg.Path("nats-server", "jetstream")
			}
			abs := func(p string) string { a, _ := filepath.Abs(p); return a }
			conf, err := keys.ServerConfig(natsauth.ServerConfigOptions{
				ServerName: serverName, Listen: listen, StoreDir: abs(storeDir),
				ResolverDir: abs(cfg.Path("nats-server", "accounts")), CertFile: abs(certFile), KeyFile: abs(keyFile),
			})
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, []byte(conf), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\nRun: nats-server -c %s\nThen: skiff server --data-dir %s --nats-url tls://%s\n", out, out, cfg.DataDir, listen)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "the control plane's data dir (its pki/ holds the trust)")
	f.StringVar(&listen, "listen", "", "host:port the nats-server listens on for clients (required)")
	f.StringVar(&out, "out", "", "the configuration file to write (required)")
	f.StringVar(&storeDir, "store-dir", "", "JetStream's directory (default: <data-dir>/nats-server/jetstream)")
	f.StringVar(&serverName, "server-name", "skiff-nats-1", "the server's name (unique in a NATS cluster)")
	f.StringSliceVar(&sans, "tls-san", nil, "another name or address of the NATS server for its certificate (repeatable)")
	return cmd
}

func defaultNATSContextDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "nats", "context")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".config", "nats", "context")
	}
	return filepath.Join(home, ".config", "nats", "context")
}
