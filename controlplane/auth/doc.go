// Package auth owns the API's bearer tokens and the rules of what each may
// do.
//
// Tokens are kept in the KV bucket api.TokensBucket, one record per token
// keyed by its name, holding the SHA-256 of the token with its role,
// namespace scope, creation and optional expiry; the token itself is
// returned once, by Create, and stored nowhere. A token reads
// "skiff_<name>_<secret>", so that Authenticate finds the record by name
// and compares hashes in constant time. Tokens.Start keeps a copy of every
// record in memory, fed by a KV watch, so that authenticating a request
// costs a map lookup and one hash; a token created on another replica and
// not yet seen by the watch is read from the bucket.
//
// Authorize decides what an Identity may do (roles admin, edit and view;
// see api.Role), from the verb, resource and namespace of a request.
//
// Package auth imports api and config (and nats.go): it must never import
// the rest of controlplane, web, edge or runtimes.
package auth
