package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/internal/atomicfile"
)

// DefaultServer is the API a client talks to when nothing else is set:
// where `skiff up` listens by default.
const DefaultServer = "https://127.0.0.1:8080"

// Environment variables the client reads.
const (
	// EnvServer overrides the config file's server.
	EnvServer = "SKIFF_SERVER"
	// EnvConfig is the path of the client config file.
	EnvConfig = "SKIFF_CONFIG"
	// EnvToken is the bearer token, over the config file's.
	EnvToken = "SKIFF_TOKEN"
	// EnvCA names a PEM file with the CA to check the server with, over
	// the config file's.
	EnvCA = "SKIFF_CA"
)

// Config is the client configuration file, like a kubeconfig: where the
// API and the NATS server of a Skiff cluster are, and the token to show
// it. `skiff up` and `skiff server` write it, with their admin token.
type Config struct {
	// Server is the API's base URL (http://127.0.0.1:8080).
	Server string `json:"server"`
	// NATS is the cluster's NATS URL, for agents joining and the NATS CLI.
	NATS string `json:"nats,omitempty"`
	// Token is the bearer token for Server.
	Token string `json:"token,omitempty"`
	// CA is the cluster CA's certificate (PEM) that Server's certificate
	// is checked against.
	CA string `json:"ca,omitempty"`
}

// DefaultConfigPath is $SKIFF_CONFIG, or ~/.config/skiff/config.yaml.
func DefaultConfigPath() string {
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".config", "skiff", "config.yaml")
	}
	return filepath.Join(home, ".config", "skiff", "config.yaml")
}

// LoadConfig reads a config file. A missing file is an error that matches
// fs.ErrNotExist; unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read client config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return Config{}, fmt.Errorf("client config %s: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes a config file readable only by its owner (0600),
// creating its directory (0700). It replaces the file atomically.
func WriteConfig(path string, c Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	if err := atomicfile.WriteDir(path, b, 0o600, 0o700); err != nil {
		return fmt.Errorf("write client config: %w", err)
	}
	return nil
}

// ResolveServer picks the API server the way the CLI does: the --server
// flag, then $SKIFF_SERVER, then the config file's server, then
// DefaultServer. A config file that exists but cannot be read is an error.
func ResolveServer(flagValue string) (string, error) {
	if flagValue != "" {
		return NormalizeServer(flagValue), nil
	}
	if s := os.Getenv(EnvServer); s != "" {
		return NormalizeServer(s), nil
	}
	c, err := LoadConfig(DefaultConfigPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", err
	case c.Server != "":
		return NormalizeServer(c.Server), nil
	}
	return DefaultServer, nil
}

// ResolveCA picks the CA to check server's certificate with: the file
// $SKIFF_CA names, then the config file's CA if the config file is about
// that same server, then none (the system's roots).
func ResolveCA(server string) ([]byte, error) {
	if p := os.Getenv(EnvCA); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvCA, err)
		}
		return b, nil
	}
	c, err := LoadConfig(DefaultConfigPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case c.CA != "" && c.Server != "" && NormalizeServer(c.Server) == NormalizeServer(server):
		return []byte(c.CA), nil
	}
	return nil, nil
}

// ResolveToken picks the token for server the way the CLI does:
// $SKIFF_TOKEN, then the config file's token if the config file is about
// that same server (a token is never sent to another server than the one
// it was written down for), then none. A config file that exists but
// cannot be read is an error.
func ResolveToken(server string) (string, error) {
	if t := os.Getenv(EnvToken); t != "" {
		return t, nil
	}
	c, err := LoadConfig(DefaultConfigPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	case c.Token != "" && c.Server != "" && NormalizeServer(c.Server) == NormalizeServer(server):
		return c.Token, nil
	}
	return "", nil
}
