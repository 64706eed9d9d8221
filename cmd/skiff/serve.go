package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/cmd/skiff/app"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/web/client"
)

// serveFlags are the flags of up, server and agent, applied over the
// config file (if any) and the defaults.
type serveFlags struct {
	configFile string
	cfg        config.Config
	labels     []string
	containerd bool // --containerd, applied only when given
}

func (f *serveFlags) register(fs *pflag.FlagSet, server, agent bool) {
	f.cfg = config.Default()
	fs.StringVar(&f.configFile, "config", "", "YAML config file (see config.Config); flags override it")
	fs.StringVar(&f.cfg.DataDir, "data-dir", f.cfg.DataDir, "directory for all state")
	fs.StringVar(&f.cfg.LogLevel, "log-level", f.cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&f.cfg.LogFormat, "log-format", f.cfg.LogFormat, "text or json")
	if server {
		fs.StringVar(&f.cfg.API.Listen, "listen", f.cfg.API.Listen, "host:port of the REST API and dashboard")
		fs.StringVar(&f.cfg.NATS.Listen, "nats-listen", f.cfg.NATS.Listen, "host:port of the embedded NATS server (agents and the NATS CLI connect here)")
		fs.StringVar(&f.cfg.NATS.URL, "nats-url", "", "use this external NATS (with JetStream) instead of the embedded server")
		fs.StringSliceVar(&f.cfg.TLSSANs, "tls-san", nil, "another name or IP address of this server for its TLS certificate (repeatable): the address agents and clients use")
		fs.StringVar(&f.cfg.SecretsEncryptionKeyring, "secrets-encryption-keyring", "",
			"file with the keys that encrypt Secrets at rest, mode 0600, made on first start (default DATA-DIR/secrets-encryption.json)")
	}
	if agent {
		fs.StringVar(&f.cfg.Agent.NodeName, "node-name", f.cfg.Agent.NodeName, "this node's name (a DNS label)")
		fs.StringSliceVar(&f.labels, "label", nil, "node label key=value (repeatable)")
		fs.DurationVar(&f.cfg.Agent.LeaseInterval, "lease-interval", f.cfg.Agent.LeaseInterval, "how often the agent renews its lease")
		fs.StringVar(&f.cfg.Agent.ContainerdSocket, "containerd-socket", f.cfg.Agent.ContainerdSocket, "containerd's socket, for container pods")
		fs.StringSliceVar(&f.cfg.Agent.HostPathAllow, "host-path-allow", nil,
			"directory pods on this node may mount as hostPath volumes, with everything beneath it (repeatable or comma-separated; default none)")
		fs.BoolVar(&f.containerd, "containerd", false, "run container pods through containerd (default: when --containerd-socket exists at start); "+
			"--containerd=false turns it off")
	}
}

// load merges file, flags that were set, and validates.
func (f *serveFlags) load(fs *pflag.FlagSet) (config.Config, error) {
	cfg := f.cfg
	if f.configFile != "" {
		fromFile := config.Default()
		if err := fromFile.LoadFile(f.configFile); err != nil {
			return cfg, err
		}
		// Flags given on the command line win over the file.
		set := map[string]bool{}
		fs.Visit(func(fl *pflag.Flag) { set[fl.Name] = true })
		merged := fromFile
		overlay := func(name string, dst *string, v string) {
			if set[name] {
				*dst = v
			}
		}
		overlay("data-dir", &merged.DataDir, cfg.DataDir)
		overlay("log-level", &merged.LogLevel, cfg.LogLevel)
		overlay("log-format", &merged.LogFormat, cfg.LogFormat)
		overlay("listen", &merged.API.Listen, cfg.API.Listen)
		overlay("nats-listen", &merged.NATS.Listen, cfg.NATS.Listen)
		overlay("nats-url", &merged.NATS.URL, cfg.NATS.URL)
		overlay("secrets-encryption-keyring", &merged.SecretsEncryptionKeyring, cfg.SecretsEncryptionKeyring)
		overlay("node-name", &merged.Agent.NodeName, cfg.Agent.NodeName)
		overlay("nats", &merged.Agent.NATSURL, cfg.Agent.NATSURL)
		overlay("server", &merged.Agent.NATSURL, cfg.Agent.NATSURL)
		overlay("token", &merged.Agent.JoinToken, cfg.Agent.JoinToken)
		overlay("containerd-socket", &merged.Agent.ContainerdSocket, cfg.Agent.ContainerdSocket)
		if set["tls-san"] {
			merged.TLSSANs = cfg.TLSSANs
		}
		if set["host-path-allow"] {
			merged.Agent.HostPathAllow = cfg.Agent.HostPathAllow
		}
		if set["lease-interval"] {
			merged.Agent.LeaseInterval = cfg.Agent.LeaseInterval
		}
		cfg = merged
	}
	if fs.Changed("containerd") {
		on := f.containerd
		cfg.Agent.Containerd = &on
	}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return cfg, fmt.Errorf("--label %q: want key=value", l)
		}
		if cfg.Agent.Labels == nil {
			cfg.Agent.Labels = map[string]string{}
		}
		cfg.Agent.Labels[k] = v
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newUpCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run Skiff on this machine: embedded NATS, control plane, REST API and a local agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveControlPlane(cmd, &f, func(ctx context.Context, cfg config.Config, log *slog.Logger) (*app.Server, error) {
				u, err := app.StartUp(ctx, cfg, log)
				if err != nil {
					return nil, err
				}
				return &u.Server, nil
			}, func(out io.Writer, s *app.Server, cfg config.Config, cfgPath string) {
				fmt.Fprintf(out, "Skiff is up.\n  API:   %s\n  NATS:  %s\n  node:  %s\n  data:  %s\n  client config: %s\n",
					s.API.URL(), s.NATS.ClientURL, cfg.Agent.NodeName, cfg.DataDir, cfgPath)
				fmt.Fprintf(out, "Try: skiff apply -f testbed/examples/hello-wasm.yaml && skiff get pods\n")
			})
		},
	}
	f.register(cmd.Flags(), true, true)
	return cmd
}

func newServerCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane and REST API (agents run elsewhere with `skiff agent`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveControlPlane(cmd, &f, app.StartServer, func(out io.Writer, s *app.Server, cfg config.Config, cfgPath string) {
				fmt.Fprintf(out, "Skiff server is up.\n  API:   %s\n  NATS:  %s\n  data:  %s\n  client config: %s\n",
					s.API.URL(), s.NATS.ClientURL, cfg.DataDir, cfgPath)
				fmt.Fprintf(out, "Join a node:\n  skiff token create --join --ttl 24h          # here: prints a join token\n  skiff agent --server %s --node-name NAME --token <join token>   # on the device\n", s.NATS.ClientURL)
			})
		},
	}
	f.register(cmd.Flags(), true, false)
	return cmd
}

func newAgentCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an edge agent that joins the control plane at --nats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd.Flags())
			if err != nil {
				return err
			}
			if cfg.Agent.NATSURL == "" {
				return fmt.Errorf("--server is required: the NATS URL `skiff server` printed, like tls://10.0.0.1:4222")
			}
			if cfg.Agent.JoinToken == "" {
				cfg.Agent.JoinToken = os.Getenv(envJoinToken)
				if err := cfg.Validate(); err != nil {
					return fmt.Errorf("$%s: %w", envJoinToken, err)
				}
			}
			log := app.NewLogger(cfg, cmd.ErrOrStderr())
			a, err := app.StartAgent(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Skiff agent %s is running (control plane NATS %s, data %s).\n", cfg.Agent.NodeName, cfg.Agent.NATSURL, cfg.DataDir)
			return waitThenStop(cmd.Context(), a.Done(), a.Stop)
		},
	}
	f.register(cmd.Flags(), false, true)
	cmd.Flags().StringVar(&f.cfg.Agent.NATSURL, "server", "", "NATS URL of the control plane, as `skiff server` prints it (tls://HOST:4222)")
	cmd.Flags().StringVar(&f.cfg.Agent.NATSURL, "nats", "", "the same as --server")
	cmd.Flags().StringVar(&f.cfg.Agent.JoinToken, "token", "", "join token (skf1::…, from `skiff token create --join`), used once to join; also $"+envJoinToken)
	return cmd
}

// envJoinToken carries the join token, to keep it off the command line.
const envJoinToken = "SKIFF_JOIN_TOKEN"

// serveControlPlane loads the configuration, starts a control plane (with
// or without a local agent), records where it listens in the client
// config, prints banner and runs until interrupted.
func serveControlPlane(cmd *cobra.Command, f *serveFlags,
	start func(context.Context, config.Config, *slog.Logger) (*app.Server, error),
	banner func(io.Writer, *app.Server, config.Config, string)) error {
	cfg, err := f.load(cmd.Flags())
	if err != nil {
		return err
	}
	s, err := start(cmd.Context(), cfg, app.NewLogger(cfg, cmd.ErrOrStderr()))
	if err != nil {
		return explainListenError(err)
	}
	cfgPath, err := writeClientConfig(s.API.URL(), s.NATS.ClientURL, s.AdminToken, s.CA.PEM)
	if err != nil {
		return err
	}
	banner(cmd.OutOrStdout(), s, cfg, cfgPath)
	return waitThenStop(cmd.Context(), s.Done(), s.Stop)
}

func waitThenStop(ctx context.Context, done <-chan os.Signal, stop func(context.Context) error) error {
	select {
	case <-ctx.Done():
	case <-done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return stop(sctx)
}

// writeClientConfig records where the API and NATS listen, and the admin
// token, for client commands (like a kubeconfig; mode 0600).
func writeClientConfig(apiURL, natsURL, token string, caPEM []byte) (string, error) {
	path := client.DefaultConfigPath()
	if err := client.WriteConfig(path, client.Config{Server: apiURL, NATS: natsURL, Token: token, CA: string(caPEM)}); err != nil {
		return "", fmt.Errorf("write client config: %w", err)
	}
	return filepath.Clean(path), nil
}

func explainListenError(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "listen" {
		return fmt.Errorf("%w (is another Skiff running? choose other ports with --listen and --nats-listen)", err)
	}
	if strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "did not become ready") {
		return fmt.Errorf("%w (is another Skiff running? choose other ports with --listen and --nats-listen)", err)
	}
	return err
}
