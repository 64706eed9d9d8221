// Package natsserver runs the embedded NATS server with JetStream that holds
// Skiff's state, and connects clients to it or to an external NATS.
package natsserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// Options configure the embedded server.
type Options struct {
	// Listen is host:port for NATS clients; port -1 picks a free one.
	Listen string
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// NoSync turns off fsync before acknowledging writes. Only for
	// throwaway benchmarks and tests that measure without it: with it off,
	// acknowledged writes can be lost on power failure.
	NoSync bool
	// ServerName names the server in logs and cluster views.
	ServerName string
	// TLS, when set, is required of every TCP client (in-process
	// connections need none).
	TLS *tls.Config
	// Auth, when set, runs the server in operator mode: every client
	// needs a user JWT of a trusted account. Without it the server accepts
	// anonymous clients, which only package tests do.
	Auth *Auth
}

// Auth is the operator-mode configuration of the embedded server.
type Auth struct {
	Operator      *jwt.OperatorClaims
	SystemAccount string
	// ResolverDir keeps the account JWTs (a full directory resolver), so
	// a restarted server knows every account before the control plane is
	// up to push them.
	ResolverDir string
	// Preload are account JWTs by public key, stored in the resolver
	// when it holds none for that account yet (a stored one may be newer:
	// it can carry revocations).
	Preload map[string]string
}

// Start runs an embedded nats-server with JetStream and waits until it
// accepts clients. The caller must Shutdown it.
func Start(opts Options, log *slog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats listen port %q: %w", portStr, err)
	}
	if opts.StoreDir == "" {
		return nil, errors.New("nats store dir is required")
	}
	name := opts.ServerName
	if name == "" {
		name = "skiff"
	}
	sopts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		// Sync every write to disk before acknowledging it: the default
		// two-minute flush loses acknowledged writes on power loss.
		SyncAlways:         !opts.NoSync,
		NoSigs:             true,
		MaxPayload:         4 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if opts.TLS != nil {
		sopts.TLSConfig = opts.TLS
		sopts.TLS = true
		sopts.TLSTimeout = 5
	}
	if a := opts.Auth; a != nil {
		if err := os.MkdirAll(a.ResolverDir, 0o700); err != nil {
			return nil, fmt.Errorf("nats account resolver: %w", err)
		}
		res, err := server.NewDirAccResolver(a.ResolverDir, 0, 2*time.Minute, server.NoDelete)
		if err != nil {
			return nil, fmt.Errorf("nats account resolver: %w", err)
		}
		for key, tok := range a.Preload {
			if _, err := os.Stat(filepath.Join(a.ResolverDir, key+".jwt")); err == nil {
				continue
			}
			if err := res.Store(key, tok); err != nil {
				return nil, fmt.Errorf("nats account resolver: preload %s: %w", key, err)
			}
		}
		sopts.TrustedOperators = []*jwt.OperatorClaims{a.Operator}
		sopts.SystemAccount = a.SystemAccount
		sopts.AccountResolver = res
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The server reports why it cannot start (port taken, store dir
	// unusable) through Fatalf and then never becomes ready; the adapter
	// hands that reason over so Start fails at once and says why.
	fatal := make(chan string, 1)
	s.SetLoggerV2(&slogAdapter{log: log.With("component", "nats"), fatal: fatal}, false, false, false)
	go s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !s.ReadyForConnections(50 * time.Millisecond) {
		select {
		case reason := <-fatal:
			s.Shutdown()
			s.WaitForShutdown()
			return nil, fmt.Errorf("start nats server on %s: %s", opts.Listen, reason)
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, fmt.Errorf("nats server did not become ready on %s within 10s", opts.Listen)
		}
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("nats server on %s started without JetStream (store dir %s)", opts.Listen, opts.StoreDir)
	}
	return s, nil
}

type slogAdapter struct {
	log   *slog.Logger
	fatal chan<- string // gets the first fatal message, if anyone waits
}

func (a *slogAdapter) Noticef(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.log.Error(msg)
	select {
	case a.fatal <- msg:
	default:
	}
}
func (a *slogAdapter) Errorf(format string, v ...any) { a.log.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any) {}
