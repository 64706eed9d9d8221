package informer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Set is one shared informer per kind. Controllers take what they need
// from it; Start starts them all, so each kind is watched once per process.
type Set struct {
	Pods           *Informer[*api.Pod]
	Nodes          *Informer[*api.Node]
	Namespaces     *Informer[*api.Namespace]
	ResourceQuotas *Informer[*api.ResourceQuota]
	Deployments    *Informer[*api.Deployment]
	ReplicaSets    *Informer[*api.ReplicaSet]
	DaemonSets     *Informer[*api.DaemonSet]
	Jobs           *Informer[*api.Job]
	CronJobs       *Informer[*api.CronJob]
	ConfigMaps     *Informer[*api.ConfigMap]
	Secrets        *Informer[*api.Secret]
}

// NewSet returns informers for every kind; Start begins them.
func NewSet(st *store.Store, log *slog.Logger) *Set {
	return &Set{
		Pods:           New[*api.Pod](st, log),
		Nodes:          New[*api.Node](st, log),
		Namespaces:     New[*api.Namespace](st, log),
		ResourceQuotas: New[*api.ResourceQuota](st, log),
		Deployments:    New[*api.Deployment](st, log),
		ReplicaSets:    New[*api.ReplicaSet](st, log),
		DaemonSets:     New[*api.DaemonSet](st, log),
		Jobs:           New[*api.Job](st, log),
		CronJobs:       New[*api.CronJob](st, log),
		ConfigMaps:     New[*api.ConfigMap](st, log),
		Secrets:        New[*api.Secret](st, log),
	}
}

type runnable interface {
	Start(context.Context) error
	Stop()
	WaitSynced(context.Context) bool
}

func (s *Set) all() []runnable {
	return []runnable{s.Pods, s.Nodes, s.Namespaces, s.ResourceQuotas, s.Deployments, s.ReplicaSets, s.DaemonSets, s.Jobs, s.CronJobs, s.ConfigMaps, s.Secrets}
}

// Start starts every informer.
func (s *Set) Start(ctx context.Context) error {
	for _, i := range s.all() {
		if err := i.Start(ctx); err != nil {
			s.Stop()
			return err
		}
	}
	return nil
}

// WaitSynced waits until every informer holds its initial objects.
func (s *Set) WaitSynced(ctx context.Context) error {
	for _, i := range s.all() {
		if !i.WaitSynced(ctx) {
			return errors.New("informers did not sync")
		}
	}
	return nil
}

// Stop stops every informer.
func (s *Set) Stop() {
	for _, i := range s.all() {
		i.Stop()
	}
}
