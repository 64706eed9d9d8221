package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// Errors returned by the store, wrapped with the object they concern.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("the object has been modified; apply your changes to the latest version and try again")
	ErrAlreadyExists = errors.New("already exists")
)

// Options configure the bucket.
type Options struct {
	// Replicas of the bucket's stream: 1 for the embedded server, 3 on an
	// external NATS cluster.
	Replicas int
	// Observer, if set, hears how long each KV operation took (metrics).
	Observer Observer
	// Keyring encrypts Secrets at rest (see secretsencryption.go). Open
	// refuses to run without one unless PlaintextSecrets is set.
	Keyring *Keyring
	// PlaintextSecrets stores Secrets unencrypted, for unit tests of other
	// logic only; a control plane always has a Keyring.
	PlaintextSecrets bool
}

// Store is typed CRUD and Watch over the objects bucket. Use For to get a
// typed Resource; the untyped methods serve the REST API, which handles
// every kind the same way.
type Store struct {
	kv      jetstream.KeyValue
	raw     jetstream.KeyValue // kv without the Observer
	now     func() time.Time
	keyring *Keyring // nil: Secrets are stored unencrypted
	// dryRun: writes are checked as real ones would be (the key exists or
	// not, the compare-and-swap's revision) but not made (DryRun).
	dryRun bool
}

// DryRun returns a view of the store whose writes are checked but never
// made, for the API's dryRun=All: reads are real; CreateObject fills in
// what a create would (name from generateName, uid, creationTimestamp,
// generation) and fails with ErrAlreadyExists when the key is taken, but
// leaves resourceVersion empty; UpdateObject fails with ErrNotFound or
// ErrConflict as the compare-and-swap would and otherwise keeps the
// resourceVersion it was given; DeleteObject checks the object and its
// version. Mutate and the typed Resource go through these, so anything
// built on them (admission's quota charges, graceful pod deletion) runs
// its checks and writes nothing. The bucket's revision does not move.
func (s *Store) DryRun() *Store {
	d := *s
	d.dryRun = true
	return &d
}

// IsDryRun reports whether the store is a DryRun view.
func (s *Store) IsDryRun() bool { return s.dryRun }

// Open creates or updates the objects bucket and returns a Store over it.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Keyring == nil && !opts.PlaintextSecrets {
		return nil, errors.New("open store: no secrets encryption keyring (Options.Keyring); only unit tests may set Options.PlaintextSecrets")
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      api.ObjectsBucket,
		Description: "Skiff API objects, keyed <resource>.<namespace>.<name>",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", api.ObjectsBucket, err)
	}
	s := &Store{kv: kv, raw: kv, now: time.Now, keyring: opts.Keyring}
	if opts.Observer != nil {
		s.kv = observedKV{KeyValue: kv, obs: opts.Observer}
	}
	return s, nil
}

// KV returns the underlying bucket, for benchmarks that measure raw KV
// operations beside the store's.
func (s *Store) KV() jetstream.KeyValue { return s.raw }

func describe(info api.KindInfo, ns, name string) string {
	if ns == "" {
		return fmt.Sprintf("%s %q", info.Singular, name)
	}
	return fmt.Sprintf("%s %s/%s", info.Singular, ns, name)
}

func keyOf(info api.KindInfo, m *api.ObjectMeta) string {
	ns := m.Namespace
	if !info.Namespaced {
		ns = ""
	}
	return api.ObjectKey(info.Resource, ns, m.Name)
}

// encode turns obj into the value stored under key (encrypted for
// Secrets). The caller calls done once the bucket has answered the write.
func (s *Store) encode(info api.KindInfo, key string, obj api.Object) (b []byte, done func(), err error) {
	m := obj.GetObjectMeta()
	rv := m.ResourceVersion
	m.ResourceVersion = "" // the KV revision is the version; never store it
	b, err = json.Marshal(obj)
	m.ResourceVersion = rv
	if err != nil {
		return nil, nil, err
	}
	return s.sealValue(info, key, b)
}

func (s *Store) decodeEntry(info api.KindInfo, e jetstream.KeyValueEntry) (api.Object, error) {
	b, err := s.openValue(info, e.Key(), e.Value())
	if err != nil {
		return nil, err
	}
	obj := info.New()
	if err := json.Unmarshal(b, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
	}
	obj.GetObjectMeta().ResourceVersion = strconv.FormatUint(e.Revision(), 10)
	return obj, nil
}

// ParseResourceVersion turns a resourceVersion back into a KV revision.
func ParseResourceVersion(rv string) (uint64, error) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("resourceVersion %q is not a version this server issued", rv)
	}
	return n, nil
}

const generateSuffixChars = "bcdfghjklmnpqrstvwxz2456789"

func generateSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = generateSuffixChars[int(b[i])%len(generateSuffixChars)]
	}
	return string(b)
}

// CreateObject stores a new object. It sets uid, creationTimestamp and, for
// metadata.generateName, the name. It returns ErrAlreadyExists when the key
// is taken.
func (s *Store) CreateObject(ctx context.Context, obj api.Object) error {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	if m.Name == "" && m.GenerateName != "" {
		m.Name = m.GenerateName + generateSuffix()
	}
	m.UID = uuid.NewString()
	m.CreationTimestamp = s.now().UTC().Truncate(time.Second)
	m.ResourceVersion = ""
	if m.Generation == 0 {
		m.Generation = 1
	}
	key := keyOf(info, m)
	b, done, err := s.encode(info, key, obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", describe(info, m.Namespace, m.Name), err)
	}
	if s.dryRun {
		done()
		_, err := s.kv.Get(ctx, key)
		switch {
		case err == nil:
			return fmt.Errorf("%s: %w", describe(info, m.Namespace, m.Name), ErrAlreadyExists)
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("create %s: %w", describe(info, m.Namespace, m.Name), err)
		}
		return nil
	}
	rev, err := s.kv.Create(ctx, key, b)
	done()
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%s: %w", describe(info, m.Namespace, m.Name), ErrAlreadyExists)
		}
		return fmt.Errorf("create %s: %w", describe(info, m.Namespace, m.Name), err)
	}
	m.ResourceVersion = strconv.FormatUint(rev, 10)
	return nil
}

// GetObject reads one object; ErrNotFound when there is none.
func (s *Store) GetObject(ctx context.Context, info api.KindInfo, ns, name string) (api.Object, error) {
	if !info.Namespaced {
		ns = ""
	}
	e, err := s.kv.Get(ctx, api.ObjectKey(info.Resource, ns, name))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("%s: %w", describe(info, ns, name), ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", describe(info, ns, name), err)
	}
	return s.decodeEntry(info, e)
}

// getTwice reads one object and decodes it twice: one copy to keep as it
// was, one to change.
func (s *Store) getTwice(ctx context.Context, info api.KindInfo, ns, name string) (api.Object, api.Object, error) {
	if !info.Namespaced {
		ns = ""
	}
	e, err := s.kv.Get(ctx, api.ObjectKey(info.Resource, ns, name))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, nil, fmt.Errorf("%s: %w", describe(info, ns, name), ErrNotFound)
		}
		return nil, nil, fmt.Errorf("get %s: %w", describe(info, ns, name), err)
	}
	a, err := s.decodeEntry(info, e)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.decodeEntry(info, e)
	return a, b, err
}

// ListObjects returns every object of a kind in a namespace ("" for all),
// sorted by key, and the highest revision among them.
func (s *Store) ListObjects(ctx context.Context, info api.KindInfo, ns string) ([]api.Object, uint64, error) {
	if !info.Namespaced {
		ns = ""
	}
	w, err := s.kv.Watch(ctx, api.ObjectKeyPrefix(info.Resource, ns), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", info.Resource, err)
	}
	defer func() { _ = w.Stop() }()
	var out []api.Object
	var maxRev uint64
	for {
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("list %s: %w", info.Resource, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, 0, fmt.Errorf("list %s: watcher closed", info.Resource)
			}
			if e == nil { // all current values delivered
				return out, maxRev, nil
			}
			obj, err := s.decodeEntry(info, e)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, obj)
			maxRev = max(maxRev, e.Revision())
		}
	}
}

// UpdateObject replaces a stored object if its resourceVersion is still the
// stored one (ErrConflict otherwise); with an empty resourceVersion it
// replaces whatever is stored. uid and creationTimestamp are kept from the
// stored object, and metadata.generation is bumped when the spec changed,
// as Kubernetes' API server does. It returns ErrNotFound when the object
// does not exist.
func (s *Store) UpdateObject(ctx context.Context, obj api.Object) error {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	cur, err := s.GetObject(ctx, info, m.Namespace, m.Name)
	if err != nil {
		return err
	}
	if m.ResourceVersion == "" {
		m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	} else if _, err := ParseResourceVersion(m.ResourceVersion); err != nil {
		return fmt.Errorf("%s: %w", describe(info, m.Namespace, m.Name), err)
	}
	return s.updateFrom(ctx, info, cur, obj)
}

// updateFrom writes obj over old (the stored version obj was made from)
// with one compare-and-swap on obj's resourceVersion.
func (s *Store) updateFrom(ctx context.Context, info api.KindInfo, old, obj api.Object) error {
	m := obj.GetObjectMeta()
	om := old.GetObjectMeta()
	rev, err := ParseResourceVersion(m.ResourceVersion)
	if err != nil {
		return fmt.Errorf("%s: %w", describe(info, m.Namespace, m.Name), err)
	}
	m.UID, m.CreationTimestamp = om.UID, om.CreationTimestamp
	m.Generation = om.Generation
	if specChanged(old, obj) {
		m.Generation++
	}
	key := keyOf(info, m)
	b, done, err := s.encode(info, key, obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", describe(info, m.Namespace, m.Name), err)
	}
	if s.dryRun {
		done()
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), ErrNotFound)
		case err != nil:
			return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), err)
		case e.Revision() != rev:
			return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), ErrConflict)
		}
		return nil
	}
	newRev, err := s.kv.Update(ctx, key, b, rev)
	done()
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			if _, gerr := s.kv.Get(ctx, key); errors.Is(gerr, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), ErrNotFound)
			}
			return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), ErrConflict)
		}
		return fmt.Errorf("update %s: %w", describe(info, m.Namespace, m.Name), err)
	}
	m.ResourceVersion = strconv.FormatUint(newRev, 10)
	return nil
}

// specChanged compares the "spec" of two versions of an object.
func specChanged(a, b api.Object) bool {
	return string(specJSON(a)) != string(specJSON(b))
}

func specJSON(obj api.Object) []byte {
	v := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	if !v.IsValid() {
		return nil
	}
	out, _ := json.Marshal(v.Interface())
	return out
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// DeleteObject removes an object. With a non-empty resourceVersion the
// delete only happens if the object is still at that version (ErrConflict
// otherwise). It returns ErrNotFound when there is nothing to delete.
func (s *Store) DeleteObject(ctx context.Context, info api.KindInfo, ns, name, resourceVersion string) error {
	if !info.Namespaced {
		ns = ""
	}
	cur, err := s.GetObject(ctx, info, ns, name)
	if err != nil {
		return err
	}
	rev, _ := ParseResourceVersion(cur.GetObjectMeta().ResourceVersion)
	if resourceVersion != "" {
		want, err := ParseResourceVersion(resourceVersion)
		if err != nil {
			return fmt.Errorf("%s: %w", describe(info, ns, name), err)
		}
		if want != rev {
			return fmt.Errorf("delete %s: %w", describe(info, ns, name), ErrConflict)
		}
	}
	if s.dryRun {
		return nil // the object exists at rev: the delete would succeed
	}
	if err := s.kv.Delete(ctx, api.ObjectKey(info.Resource, ns, name), jetstream.LastRevision(rev)); err != nil {
		if isWrongLastSequence(err) {
			return fmt.Errorf("delete %s: %w", describe(info, ns, name), ErrConflict)
		}
		return fmt.Errorf("delete %s: %w", describe(info, ns, name), err)
	}
	return nil
}

// Resource is typed access to one kind. T is a pointer type like *api.Pod.
type Resource[T api.Object] struct {
	s    *Store
	info api.KindInfo
}

// For returns typed access to the kind of T.
func For[T api.Object](s *Store) *Resource[T] {
	var zero T
	obj := reflect.New(reflect.TypeOf(zero).Elem()).Interface().(api.Object)
	return &Resource[T]{s: s, info: api.KindOf(obj)}
}

// Info describes the kind.
func (r *Resource[T]) Info() api.KindInfo { return r.info }

// Store is the untyped store the resource belongs to.
func (r *Resource[T]) Store() *Store { return r.s }

// Create stores a new object; see Store.CreateObject.
func (r *Resource[T]) Create(ctx context.Context, obj T) error { return r.s.CreateObject(ctx, obj) }

// Get reads one object; see Store.GetObject.
func (r *Resource[T]) Get(ctx context.Context, ns, name string) (T, error) {
	obj, err := r.s.GetObject(ctx, r.info, ns, name)
	if err != nil {
		var zero T
		return zero, err
	}
	return obj.(T), nil
}

// List reads every object in ns ("" for all namespaces).
func (r *Resource[T]) List(ctx context.Context, ns string) ([]T, error) {
	objs, _, err := r.s.ListObjects(ctx, r.info, ns)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(objs))
	for i, o := range objs {
		out[i] = o.(T)
	}
	return out, nil
}

// Update replaces an object; see Store.UpdateObject.
func (r *Resource[T]) Update(ctx context.Context, obj T) error { return r.s.UpdateObject(ctx, obj) }

// Delete removes an object; see Store.DeleteObject.
func (r *Resource[T]) Delete(ctx context.Context, ns, name, resourceVersion string) error {
	return r.s.DeleteObject(ctx, r.info, ns, name, resourceVersion)
}

// Mutate reads the object, applies fn and writes it back with a
// compare-and-swap, retrying on conflict. fn must be idempotent; it may
// return ErrSkip to write nothing. Mutate returns the stored object.
func (r *Resource[T]) Mutate(ctx context.Context, ns, name string, fn func(T) error) (T, error) {
	for {
		old, cur, err := r.s.getTwice(ctx, r.info, ns, name)
		if err != nil {
			var zero T
			return zero, err
		}
		obj := cur.(T)
		if err := fn(obj); err != nil {
			if errors.Is(err, ErrSkip) {
				return obj, nil
			}
			return obj, err
		}
		err = r.s.updateFrom(ctx, r.info, old, obj)
		if err == nil || !errors.Is(err, ErrConflict) {
			return obj, err
		}
		if ctx.Err() != nil {
			return obj, ctx.Err()
		}
	}
}

// ErrSkip, returned by a Mutate function, means "nothing to change".
var ErrSkip = errors.New("skip")
