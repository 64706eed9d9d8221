package controlplane

import (
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/nodelifecycle"
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
}

// Module is the whole control plane except the REST API: NATS (embedded
// or external), the store, events, scheduler, dispatch, the agents' API,
// artifacts, node lifecycle and the controllers.
var Module = fx.Module("controlplane",
	natsserver.Module,
	store.Module,
	events.Module,
	scheduler.Module,
	dispatch.Module,
	agentapi.Module,
	artifacts.Module,
	nodelifecycle.Module,
	controllers.Module,
)
