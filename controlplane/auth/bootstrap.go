package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/internal/atomicfile"
)

// AdminTokenFile is the name of the file, in a server's data directory,
// that keeps the server's admin token.
const AdminTokenFile = "admin-token"

// EnsureAdminToken returns the admin token kept at path (mode 0600),
// creating one on first start: a token of role admin for all namespaces,
// named admin-<5 characters>, without expiry. A token in the file that the
// store no longer accepts (revoked, or the bucket is new) is replaced by a
// new one, so whoever runs the server can always reach its API: the data
// directory is the root of trust, like a Kubernetes control-plane node's
// admin.conf.
func (t *Tokens) EnsureAdminToken(ctx context.Context, path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("read admin token: %w", err)
	default:
		tok := strings.TrimSpace(string(b))
		id, err := t.Authenticate(ctx, tok)
		switch {
		case err == nil && id.Role == api.RoleAdmin && id.Namespace == "":
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("admin token: %w", err)
			}
			return tok, nil
		case err != nil && !errors.Is(err, ErrUnauthenticated):
			return "", fmt.Errorf("check admin token: %w", err)
		}
		t.log.Warn("the admin token in the data directory is no longer valid; making a new one", "path", path)
	}
	tok, err := t.Create(ctx, api.TokenRequest{Name: "admin-" + randomSuffix(), Role: api.RoleAdmin})
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if err := writeSecretFile(path, []byte(tok.Token+"\n")); err != nil {
		// Do not leave a token nobody holds.
		_, _ = t.Revoke(context.WithoutCancel(ctx), tok.Name)
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return tok.Token, nil
}

// writeSecretFile writes b to path with mode 0600, atomically, creating
// the directory (0700).
func writeSecretFile(path string, b []byte) error {
	return atomicfile.WriteDir(path, b, 0o600, 0o700)
}
