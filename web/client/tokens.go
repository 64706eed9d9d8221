package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/skiff-sh/skiff/api"
)

// CreateToken makes a token (an admin token of all namespaces is needed)
// and returns it with its secret in Token, the only time the secret is
// shown.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.Token{}, fmt.Errorf("encode token request: %w", err)
	}
	body, err := c.do(ctx, http.MethodPost, api.TokensPath, nil, "application/json", bytes.NewReader(b))
	if err != nil {
		return api.Token{}, err
	}
	return decodeToken(body)
}

// ListTokens lists every token, without secrets.
func (c *Client) ListTokens(ctx context.Context) ([]api.Token, error) {
	body, err := c.do(ctx, http.MethodGet, api.TokensPath, nil, "", nil)
	if err != nil {
		return nil, err
	}
	var l api.TokenList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("decode token list: %w", err)
	}
	return l.Items, nil
}

// RevokeToken revokes a token by name and returns what it was.
func (c *Client) RevokeToken(ctx context.Context, name string) (api.Token, error) {
	if err := checkName(name); err != nil {
		return api.Token{}, err
	}
	body, err := c.do(ctx, http.MethodDelete, api.TokenPath(name), nil, "", nil)
	if err != nil {
		return api.Token{}, err
	}
	return decodeToken(body)
}

// WhoAmI returns the client's own token (name, role, namespace, expiry).
func (c *Client) WhoAmI(ctx context.Context) (api.Token, error) {
	body, err := c.do(ctx, http.MethodGet, api.WhoAmIPath, nil, "", nil)
	if err != nil {
		return api.Token{}, err
	}
	return decodeToken(body)
}

func decodeToken(body []byte) (api.Token, error) {
	var t api.Token
	if err := json.Unmarshal(body, &t); err != nil {
		return api.Token{}, fmt.Errorf("decode token: %w", err)
	}
	return t, nil
}
