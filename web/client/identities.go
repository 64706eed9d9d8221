package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/skiff-sh/skiff/api"
)

// CreateJoinToken makes a join token; the answer's Token is the secret,
// shown only this once.
func (c *Client) CreateJoinToken(ctx context.Context, req api.JoinTokenRequest) (api.JoinTokenInfo, error) {
	var out api.JoinTokenInfo
	return out, c.postJSON(ctx, api.JoinTokensPath, req, &out)
}

// ListJoinTokens lists the join tokens, without secrets.
func (c *Client) ListJoinTokens(ctx context.Context) ([]api.JoinTokenInfo, error) {
	body, err := c.do(ctx, http.MethodGet, api.JoinTokensPath, nil, "", nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []api.JoinTokenInfo `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode join tokens: %w", err)
	}
	return list.Items, nil
}

// RevokeJoinToken revokes a join token: devices that have not joined with
// it cannot any more.
func (c *Client) RevokeJoinToken(ctx context.Context, name string) (api.JoinTokenInfo, error) {
	var out api.JoinTokenInfo
	if err := checkName(name); err != nil {
		return out, err
	}
	body, err := c.do(ctx, http.MethodDelete, api.JoinTokenPath(name), nil, "", nil)
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(body, &out)
}

// RevokeNode revokes a node's credential (it is disconnected at once) and
// deletes the Node.
func (c *Client) RevokeNode(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, err := c.do(ctx, http.MethodPost, api.NodeRevokePath(name), nil, "", nil)
	return err
}

// NATSCredential asks for a read-only events credential for the nkey
// publicKey (made and kept by the caller).
func (c *Client) NATSCredential(ctx context.Context, publicKey string) (api.NATSCredential, error) {
	var out api.NATSCredential
	return out, c.postJSON(ctx, api.NATSCredentialsPath, api.NATSCredentialRequest{PublicKey: publicKey}, &out)
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	body, err := c.do(ctx, http.MethodPost, path, nil, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}
