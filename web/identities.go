package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Identities issues and revokes NATS identities (natsauth.Identities):
// join tokens, node credentials, events readers' credentials.
type Identities interface {
	CreateJoinToken(ctx context.Context, req api.JoinTokenRequest) (api.JoinTokenInfo, error)
	ListJoinTokens(ctx context.Context) ([]api.JoinTokenInfo, error)
	RevokeJoinToken(ctx context.Context, name string) (api.JoinTokenInfo, error)
	RevokeNode(ctx context.Context, node string) error
	EventsCredential(name, userKey string) (api.NATSCredential, error)
}

var _ Identities = (*natsauth.Identities)(nil)

// WithIdentities serves join tokens, node revocation and events
// credentials from ids.
func WithIdentities(ids Identities) ServerOption {
	return func(s *Server) { s.identities = ids }
}

func (s *Server) identityRoutes() {
	e := s.echo
	e.POST(api.JoinTokensPath, s.createJoinToken)
	e.GET(api.JoinTokensPath, s.listJoinTokens)
	e.DELETE(api.JoinTokensPath+"/:"+paramName, s.revokeJoinToken)
	e.POST(api.NATSCredentialsPath, s.createNATSCredential)
	nodes, _ := api.LookupKind("Node")
	item := api.ResourcePath(nodes, "", ":"+paramName)
	e.DELETE(item, s.deleteNode)
	e.POST(item+"/revoke", s.deleteNode)
}

func (s *Server) requireIdentities() error {
	if s.identities == nil {
		return serviceUnavailable("%v", natsauth.ErrUnavailable)
	}
	return nil
}

func (s *Server) createJoinToken(c echo.Context) error {
	if err := s.requireIdentities(); err != nil {
		return err
	}
	if err := noDryRun(c); err != nil {
		return err
	}
	var req api.JoinTokenRequest
	if err := decodeStrict(c, &req, "JoinTokenRequest"); err != nil {
		return err
	}
	info, err := s.identities.CreateJoinToken(c.Request().Context(), req)
	if err != nil {
		return &objectError{err: err, kind: "JoinToken", name: req.Name}
	}
	by, _ := identityOf(c)
	s.log.Info("join token created", "name", info.Name, "expires", info.ExpirationTimestamp, "by", by.Name)
	return c.JSON(http.StatusCreated, info)
}

func (s *Server) listJoinTokens(c echo.Context) error {
	if err := s.requireIdentities(); err != nil {
		return err
	}
	items, err := s.identities.ListJoinTokens(c.Request().Context())
	if err != nil {
		return err
	}
	if items == nil {
		items = []api.JoinTokenInfo{}
	}
	return c.JSON(http.StatusOK, map[string]any{"apiVersion": "v1", "kind": "JoinTokenList", "items": items})
}

func (s *Server) revokeJoinToken(c echo.Context) error {
	if err := s.requireIdentities(); err != nil {
		return err
	}
	if err := noDryRun(c); err != nil {
		return err
	}
	name, err := pathName(c)
	if err != nil {
		return err
	}
	info, err := s.identities.RevokeJoinToken(c.Request().Context(), name)
	if err != nil {
		return &objectError{err: err, kind: "JoinToken", name: name}
	}
	by, _ := identityOf(c)
	s.log.Info("join token revoked", "name", name, "by", by.Name)
	return c.JSON(http.StatusOK, info)
}

// deleteNode revokes the node's credential (its NATS connection is dropped
// at once) and deletes the Node, so its pods are replaced elsewhere.
func (s *Server) deleteNode(c echo.Context) error {
	name, err := pathName(c)
	if err != nil {
		return err
	}
	nodes, _ := api.LookupKind("Node")
	ctx := c.Request().Context()
	dry, err := dryRun(c)
	if err != nil {
		return err
	}
	if dry {
		// What the delete would do to the Node; the credential is not
		// revoked.
		obj, err := admission.Delete(ctx, s.writeStore(true), nodes, "", name, admission.DeleteOptions{})
		if err != nil {
			return aboutObject(err, nodes, name)
		}
		tm := obj.GetTypeMeta()
		tm.Kind, tm.APIVersion = nodes.Kind, nodes.APIVersion()
		return c.JSON(http.StatusOK, obj)
	}
	revoked := false
	if s.identities != nil {
		switch err := s.identities.RevokeNode(ctx, name); {
		case err == nil:
			revoked = true
		case !errors.Is(err, natsauth.ErrNotFound):
			return aboutObject(err, nodes, name)
		}
	}
	obj, err := admission.Delete(ctx, s.store, nodes, "", name, admission.DeleteOptions{})
	if err != nil && !(revoked && errors.Is(err, store.ErrNotFound)) {
		return aboutObject(err, nodes, name)
	}
	by, _ := identityOf(c)
	s.log.Info("node deleted", "node", name, "credentialRevoked", revoked, "by", by.Name)
	if obj == nil {
		obj = &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	}
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = nodes.Kind, nodes.APIVersion()
	return c.JSON(http.StatusOK, obj)
}

func (s *Server) createNATSCredential(c echo.Context) error {
	if err := s.requireIdentities(); err != nil {
		return err
	}
	if err := noDryRun(c); err != nil {
		return err
	}
	var req api.NATSCredentialRequest
	if err := decodeStrict(c, &req, "NATSCredentialRequest"); err != nil {
		return err
	}
	by, _ := identityOf(c)
	cred, err := s.identities.EventsCredential("events-"+by.Name, req.PublicKey)
	if err != nil {
		return badField("publicKey", "%v", err)
	}
	s.log.Info("events credential issued", "by", by.Name)
	return c.JSON(http.StatusCreated, cred)
}
