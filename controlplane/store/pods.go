package store

import (
	"context"
	"errors"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// DeletePod deletes a pod the way Kubernetes does, for the API and for
// controllers alike. A pod bound to a node and not finished is deleted
// gracefully: deletionTimestamp and deletionGracePeriodSeconds are set, its
// agent stops it and then the key is removed (see docs/nats.md). Anything
// else — unbound, finished, or gracePeriodSeconds 0 (force) — is removed at
// once. Deleting a pod that is already terminating changes nothing unless it
// forces. It returns the pod as it was last stored.
func DeletePod(ctx context.Context, pods *Resource[*api.Pod], ns, name string, gracePeriodSeconds *int64, now time.Time) (*api.Pod, error) {
	for {
		p, err := pods.Get(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		force := gracePeriodSeconds != nil && *gracePeriodSeconds == 0
		if force || p.Spec.NodeName == "" || p.Status.Phase.Terminal() {
			err := pods.Delete(ctx, ns, name, p.ResourceVersion)
			if errors.Is(err, ErrConflict) {
				continue
			}
			return p, err
		}
		if p.DeletionTimestamp != nil {
			return p, nil
		}
		grace := api.DefaultTerminationGracePeriodSeconds
		switch {
		case gracePeriodSeconds != nil:
			grace = *gracePeriodSeconds
		case p.Spec.TerminationGracePeriodSeconds != nil:
			grace = *p.Spec.TerminationGracePeriodSeconds
		}
		t := now.UTC().Truncate(time.Second)
		p.DeletionTimestamp = &t
		p.DeletionGracePeriodSeconds = &grace
		err = pods.Update(ctx, p)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return p, err
	}
}
