package controlplane

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/leader"
	"github.com/skiff-sh/skiff/controlplane/metrics"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/nodelifecycle"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/controlplane/scheduler"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// ControlPlane is every running control-plane component. Asking fx for it
// builds and starts them all.
type ControlPlane struct {
	fx.In

	NATS          *natsserver.Conn
	Store         *store.Store
	Events        *events.Watcher
	Scheduler     *scheduler.Scheduler
	Dispatcher    *dispatch.Dispatcher
	AgentAPI      *agentapi.Server
	Artifacts     *artifacts.Store
	NodeLifecycle *nodelifecycle.Controller
	Controllers   *controllers.Manager
	Leader        *leader.Elector
	Tokens        *auth.Tokens
	Metrics       *metrics.Cluster
	// Identities issues and revokes NATS identities; nil with an
	// external NATS.
	Identities *natsauth.Identities
	CA         *pki.CA
}

// Module is the whole control plane except the REST API: NATS (embedded
// or external), the store, events, scheduler, dispatch, the agents' API,
// artifacts, node lifecycle, the controllers, the API tokens and the
// process's metrics registry.
var Module = fx.Module("controlplane",
	pki.Module,
	natsserver.Module,
	metrics.Module,
	auth.Module,
	store.Module,
	events.Module,
	scheduler.Module,
	dispatch.Module,
	agentapi.Module,
	artifacts.Module,
	nodelifecycle.Module,
	controllers.Module,
	fx.Provide(newElector),
	fx.Provide(newIdentities),
)

// newIdentities runs the identity service when this control plane holds
// the NATS trust (the embedded server).
func newIdentities(lc fx.Lifecycle, c *natsserver.Conn, ca *pki.CA, cfg config.Config, log *slog.Logger) (*natsauth.Identities, error) {
	if c.Keys == nil {
		return nil, nil
	}
	id, err := natsauth.Open(context.Background(), c.Keys, c.JS, c.NC, c.System, natsauth.Options{
		Replicas: cfg.NATS.Replicas, CAFingerprint: ca.Fingerprint(), ClientURL: c.ClientURL, CAPEM: ca.PEM,
	}, log.With("component", "identities"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StartStopHook(id.Start, id.Stop))
	return id, nil
}

// newElector runs the components that act on the cluster on the elected
// replica only, in this order (stopped in reverse): the events watcher
// first so it sees every change, then the controllers, the scheduler and
// node lifecycle. Losing leadership ends the process with exit code 1, as
// kube-controller-manager does; a supervisor restarts it as a follower.
func newElector(lc fx.Lifecycle, sd fx.Shutdowner, js jetstream.JetStream, cfg config.Config,
	ev *events.Watcher, cm *controllers.Manager, sch *scheduler.Scheduler, nl *nodelifecycle.Controller,
	log *slog.Logger) (*leader.Elector, error) {
	e, err := leader.Open(context.Background(), js, leader.Options{
		TTL:      cfg.LeaderTTL,
		Replicas: cfg.NATS.Replicas,
		OnLost:   func(error) { _ = sd.Shutdown(fx.ExitCode(1)) },
	}, []leader.Runnable{ev, cm, sch, nl}, log.With("component", "leader"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StartStopHook(e.Start, e.Stop))
	return e, nil
}
