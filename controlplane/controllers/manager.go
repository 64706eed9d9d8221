package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Manager runs every controller over one shared set of informers.
type Manager struct {
	Informers   *informer.Set
	ReplicaSets *ReplicaSetController
	Deployments *DeploymentController
	Namespaces  *NamespaceController
	GC          *GarbageCollector
	Quotas      *QuotaController
	DaemonSets  *DaemonSetController
	Jobs        *JobController
	CronJobs    *CronJobController
	log         *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewManager builds the informers and controllers; Start runs them.
func NewManager(st *store.Store, log *slog.Logger) *Manager {
	inf := informer.NewSet(st, log)
	return &Manager{
		Informers:   inf,
		ReplicaSets: NewReplicaSetController(inf, st, log.With("controller", "replicaset")),
		Deployments: NewDeploymentController(inf, st, log.With("controller", "deployment")),
		Namespaces:  NewNamespaceController(inf, st, log.With("controller", "namespace")),
		GC:          NewGarbageCollector(inf, st, log.With("controller", "garbagecollector")),
		Quotas:      NewQuotaController(inf, st, log.With("controller", "resourcequota")),
		DaemonSets:  NewDaemonSetController(inf, st, log.With("controller", "daemonset")),
		Jobs:        NewJobController(inf, st, log.With("controller", "job")),
		CronJobs:    NewCronJobController(inf, st, log.With("controller", "cronjob")),
		log:         log,
	}
}

// Start starts the informers, waits for them to sync (controllers never
// act on a partial view), then runs the controllers.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.Informers.Start(ctx); err != nil {
		return err
	}
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Informers.WaitSynced(syncCtx); err != nil {
		m.Informers.Stop()
		return fmt.Errorf("controllers: %w", err)
	}
	if err := m.Namespaces.EnsureSystemNamespaces(ctx); err != nil {
		m.Informers.Stop()
		return fmt.Errorf("controllers: %w", err)
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancelRun
	for _, r := range []*Runner{m.ReplicaSets.Runner(4), m.Deployments.Runner(2),
		m.Namespaces.Runner(2), m.GC.Runner(8), m.Quotas.Runner(2),
		m.DaemonSets.Runner(2), m.Jobs.Runner(2), m.CronJobs.Runner(1)} {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r.Run(runCtx)
		}()
	}
	return nil
}

// Stop stops the controllers, then the informers.
func (m *Manager) Stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.Informers.Stop()
}
