package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/skiff-sh/skiff/api"
)

// Patch applies a JSON merge patch (RFC 7386) to an object and returns the
// object as stored: {"spec":{"replicas":3}} sets a field, null removes
// one. With metadata.resourceVersion in the patch the server refuses it
// when the object moved on (IsConflict); without, it applies the patch to
// the newest version.
func (c *Client) Patch(ctx context.Context, info api.KindInfo, namespace, name string, patch []byte, opts ...WriteOption) (api.Object, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	path := api.ResourcePath(info, namespaceOf(info, namespace), name)
	body, err := c.do(ctx, http.MethodPatch, path, writeQuery(opts), api.MediaMergePatch, bytes.NewReader(patch))
	if err != nil {
		return nil, err
	}
	out := info.New()
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("decode patched %s %s: %w", info.Singular, name, err)
	}
	return out, nil
}

// GetScale reads the scale subresource of a Deployment or ReplicaSet: its
// spec.replicas, observed replicas, selector and resourceVersion.
func (c *Client) GetScale(ctx context.Context, info api.KindInfo, namespace, name string) (*api.Scale, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	body, err := c.do(ctx, http.MethodGet, scalePath(info, namespace, name), nil, "", nil)
	if err != nil {
		return nil, err
	}
	return decodeScale(body, name)
}

// UpdateScale sets spec.replicas of a Deployment or ReplicaSet to
// scale.Spec.Replicas and nothing else. With scale's resourceVersion set
// the server refuses a stale write (IsConflict).
func (c *Client) UpdateScale(ctx context.Context, info api.KindInfo, namespace, name string, scale *api.Scale) (*api.Scale, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	b, err := json.Marshal(scale)
	if err != nil {
		return nil, fmt.Errorf("encode scale: %w", err)
	}
	body, err := c.do(ctx, http.MethodPut, scalePath(info, namespace, name), nil, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return decodeScale(body, name)
}

func scalePath(info api.KindInfo, namespace, name string) string {
	return api.ResourcePath(info, namespaceOf(info, namespace), name) + "/" + api.ScaleSubresource
}

func decodeScale(body []byte, name string) (*api.Scale, error) {
	var s api.Scale
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("decode scale of %s: %w", name, err)
	}
	return &s, nil
}
