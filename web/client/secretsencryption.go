package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/skiff-sh/skiff/api"
)

// SecretsEncryptionStatus returns the keys that encrypt Secrets at rest
// and how many Secrets are under each (an admin token of all namespaces is
// needed).
func (c *Client) SecretsEncryptionStatus(ctx context.Context) (api.SecretsEncryptionStatus, error) {
	var st api.SecretsEncryptionStatus
	body, err := c.do(ctx, http.MethodGet, api.SecretsEncryptionPath, nil, "", nil)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("decode secrets encryption status: %w", err)
	}
	return st, nil
}

// RotateSecretsEncryptionKey makes the server add a new key, re-encrypt
// every Secret with it and remove the old keys.
func (c *Client) RotateSecretsEncryptionKey(ctx context.Context) (api.SecretsEncryptionRotation, error) {
	var rot api.SecretsEncryptionRotation
	body, err := c.do(ctx, http.MethodPost, api.SecretsEncryptionRotatePath, nil, "", nil)
	if err != nil {
		return rot, err
	}
	if err := json.Unmarshal(body, &rot); err != nil {
		return rot, fmt.Errorf("decode secrets encryption rotation: %w", err)
	}
	return rot, nil
}
