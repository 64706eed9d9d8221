// Package store keeps Skiff's API objects in a JetStream KV bucket
// (api.ObjectsBucket), one key per object (api.ObjectKey). The KV revision is
// the object's resourceVersion; Update is a compare-and-swap on it, so a
// stale write fails with ErrConflict instead of losing another writer's
// change.
//
// Errors from NATS are translated here into ErrNotFound, ErrConflict and
// ErrAlreadyExists; callers never see jetstream errors for those cases.
// Package store imports api and nats.go only.
package store
