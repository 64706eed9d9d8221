package api

import (
	"fmt"
	"slices"
	"time"
)

// API access: bearer tokens with a role and a namespace scope. The control
// plane keeps only a SHA-256 of each token (TokensBucket); the token itself
// is shown once, in the answer to its creation.

// Role is what a token may do.
type Role string

// Roles, from most to least powerful.
const (
	// RoleAdmin may do everything: nodes, namespaces, quotas and tokens
	// included. Scoped to a namespace, everything in that namespace.
	RoleAdmin Role = "admin"
	// RoleEdit may read, and create, update, patch and delete namespaced
	// objects other than ResourceQuotas, and upload artifacts.
	RoleEdit Role = "edit"
	// RoleView may get, list and watch objects and read pod logs, but not
	// Secrets.
	RoleView Role = "view"
)

// Roles lists the roles, most powerful first.
func Roles() []Role { return []Role{RoleAdmin, RoleEdit, RoleView} }

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// REST paths and parameters of authentication.
const (
	// TokensPath is the collection of tokens: POST a TokenRequest to make
	// one, GET to list them; TokensPath/<name> to read or DELETE (revoke)
	// one. Admin tokens of all namespaces only.
	TokensPath = "/api/v1/" + TokensResource
	// TokensResource is the resource name of tokens, for authorization.
	TokensResource = "tokens"
	// JoinTokensPath is the collection of join tokens: POST a
	// JoinTokenRequest, GET to list; JoinTokensPath/<name> to DELETE
	// (revoke) one. Admin tokens of all namespaces only.
	JoinTokensPath = "/api/v1/" + JoinTokensResource
	// JoinTokensResource is the resource name of join tokens.
	JoinTokensResource = "jointokens"
	// NATSCredentialsPath: POST a NATSCredentialRequest to get a read-only
	// events credential for the NATS CLI. Any token that may read events
	// (view and up).
	NATSCredentialsPath = "/api/v1/" + NATSCredentialsResource
	// NATSCredentialsResource is the resource name of events credentials.
	NATSCredentialsResource = "natscredentials"
	// WhoAmIPath answers any valid token with its own Token (no secret).
	WhoAmIPath = "/api/v1/whoami"
	// AccessTokenParam carries the token in the query string of a watch,
	// for browsers' EventSource, which cannot set an Authorization header.
	// Other requests must use the header.
	AccessTokenParam = "access_token"
	// AuthorizationHeader carries "Bearer <token>".
	AuthorizationHeader = "Authorization"
	// BearerPrefix starts the Authorization header's value.
	BearerPrefix = "Bearer "
)

// StatusReasonUnauthorized is the reason of a 401: no token, or one that
// is unknown, forged, revoked or expired.
const StatusReasonUnauthorized StatusReason = "Unauthorized"

// JoinTokenPath is the path of one join token.
func JoinTokenPath(name string) string { return JoinTokensPath + "/" + name }

// NodeRevokePath revokes a node's credential and deletes the Node (POST).
func NodeRevokePath(name string) string { return "/api/v1/nodes/" + name + "/revoke" }

// TokenPath is the path of one token.
func TokenPath(name string) string { return TokensPath + "/" + name }

// Token describes a bearer token. The secret (Token) is set only in the
// answer to the request that created it.
type Token struct {
	TypeMeta `json:",inline"`
	// Name identifies the token: a DNS label, unique in the cluster.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Namespace limits the token to one namespace; empty for all.
	Namespace           string     `json:"namespace,omitempty"`
	CreationTimestamp   time.Time  `json:"creationTimestamp"`
	ExpirationTimestamp *time.Time `json:"expirationTimestamp,omitempty"`
	// Token is the secret to send as "Authorization: Bearer <token>".
	Token string `json:"token,omitempty"`
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpirationTimestamp != nil && !now.Before(*t.ExpirationTimestamp)
}

// TokenList is the answer to a GET of TokensPath: every token, sorted by
// name, without secrets.
type TokenList struct {
	TypeMeta `json:",inline"`
	Items    []Token `json:"items"`
}

// TokenRequest asks for a new token (POST TokensPath).
type TokenRequest struct {
	// Name of the token; empty to have one generated ("token-xxxxx").
	Name string `json:"name,omitempty"`
	Role Role   `json:"role"`
	// Namespace limits the token to one namespace; empty for all.
	Namespace string `json:"namespace,omitempty"`
	// ExpirationSeconds is the token's lifetime; nil or 0 for no expiry.
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
}

// MaxTokenExpirationSeconds bounds ExpirationSeconds (ten years).
const MaxTokenExpirationSeconds = 10 * 365 * 24 * 3600

// Validate checks the request's fields.
func (r TokenRequest) Validate() error {
	var errs FieldErrors
	if r.Name != "" {
		if err := ValidateName(r.Name); err != nil {
			errs = append(errs, invalid("name", "%v", err))
		}
	}
	switch {
	case r.Role == "":
		errs = append(errs, FieldError{Field: "role", Type: ErrTypeRequired, Detail: fmt.Sprintf("required: one of %s, %s, %s", RoleAdmin, RoleEdit, RoleView)})
	case !r.Role.Valid():
		errs = append(errs, FieldError{Field: "role", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not one of %s, %s, %s", r.Role, RoleAdmin, RoleEdit, RoleView)})
	}
	if r.Namespace != "" {
		if err := ValidateName(r.Namespace); err != nil {
			errs = append(errs, invalid("namespace", "%v", err))
		}
	}
	if s := r.ExpirationSeconds; s != nil && (*s < 0 || *s > MaxTokenExpirationSeconds) {
		errs = append(errs, invalid("expirationSeconds", "%d must be between 0 (no expiry) and %d", *s, MaxTokenExpirationSeconds))
	}
	return errs.OrNil()
}

// JoinTokenRequest asks for a join token (POST JoinTokensPath): a secret
// that lets devices join as nodes until it expires or is revoked.
type JoinTokenRequest struct {
	// Name of the token; empty to have one generated ("join-xxxxx").
	Name string `json:"name,omitempty"`
	// ExpirationSeconds is the token's lifetime; nil for the default
	// (24 hours), 0 for no expiry.
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	// Labels every node that joins with the token gets; they belong to
	// the API (the node cannot change them).
	Labels map[string]string `json:"labels,omitempty"`
}

// DefaultJoinTokenExpirationSeconds is a join token's lifetime when the
// request names none: a day, like kubeadm's bootstrap tokens.
const DefaultJoinTokenExpirationSeconds = 24 * 3600

// Validate checks the request's fields.
func (r JoinTokenRequest) Validate() error {
	var errs FieldErrors
	if r.Name != "" {
		if err := ValidateName(r.Name); err != nil {
			errs = append(errs, invalid("name", "%v", err))
		}
	}
	if s := r.ExpirationSeconds; s != nil && (*s < 0 || *s > MaxTokenExpirationSeconds) {
		errs = append(errs, invalid("expirationSeconds", "%d must be between 0 (no expiry) and %d", *s, MaxTokenExpirationSeconds))
	}
	errs = append(errs, validateLabels(r.Labels, "labels")...)
	return errs.OrNil()
}

// JoinTokenInfo describes a join token. Token, the secret, is set only in
// the answer to its creation.
type JoinTokenInfo struct {
	TypeMeta            `json:",inline"`
	Name                string            `json:"name"`
	Token               string            `json:"token,omitempty"`
	Labels              map[string]string `json:"labels,omitempty"`
	CreationTimestamp   time.Time         `json:"creationTimestamp"`
	ExpirationTimestamp *time.Time        `json:"expirationTimestamp,omitempty"`
	Revoked             bool              `json:"revoked,omitempty"`
}

// NATSCredentialRequest asks for a read-only events credential (POST
// NATSCredentialsPath) for the nkey PublicKey, which the client made and
// keeps.
type NATSCredentialRequest struct {
	PublicKey string `json:"publicKey"`
}

// NATSCredential is the user JWT for a NATSCredentialRequest, where to
// connect, the CA to verify the server with, and the inbox prefix the
// connection must use.
type NATSCredential struct {
	JWT         string `json:"jwt"`
	URL         string `json:"url"`
	CA          string `json:"ca"`
	InboxPrefix string `json:"inboxPrefix"`
}
