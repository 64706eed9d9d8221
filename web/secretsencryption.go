package web

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
)

// Secrets encryption endpoints (admins of all namespaces; see
// auth.Authorize): the keyring's status and key rotation. The work is the
// store's (store.SecretsEncryptionStatus, store.RotateSecretsKey).

func (s *Server) secretsEncryptionStatus(c echo.Context) error {
	st, err := s.store.SecretsEncryptionStatus(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) rotateSecretsEncryptionKey(c echo.Context) error {
	req := c.Request()
	if len(req.URL.Query()) > 0 {
		return badRequest("POST %s takes no query parameters (got %q)", api.SecretsEncryptionRotatePath, req.URL.RawQuery)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(req.Body, 1))
	if err != nil {
		return badRequest("read the request body: %v", err)
	}
	if n > 0 {
		return badRequest("POST %s takes no body: it rotates to a key the server makes", api.SecretsEncryptionRotatePath)
	}
	by, _ := identityOf(c)
	s.log.Info("secrets encryption key rotation started", "by", by.Name)
	rot, err := s.store.RotateSecretsKey(req.Context())
	if err != nil {
		if rot.NewKey != "" {
			s.log.Error("secrets encryption key rotation stopped; the keyring keeps its old keys", "newKey", rot.NewKey, "reencrypted", rot.Reencrypted, "err", err)
		}
		return err
	}
	s.log.Info("secrets encryption key rotated", "newKey", rot.NewKey, "removedKeys", rot.RemovedKeys,
		"reencrypted", rot.Reencrypted, "by", by.Name)
	return c.JSON(http.StatusOK, rot)
}
