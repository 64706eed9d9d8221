// Package edge is the edge agent, the kubelet's role in Skiff. It joins the
// cluster (api.AgentRegister), renews its lease (api.AgentLease), receives
// the pods bound to its node over core NATS (api.NodePodsSubject, and the
// full desired set from api.AgentSync on start, on reconnect and every
// ResyncInterval), and runs each pod through the runtimes.Driver whose
// Capabilities().Runtime matches the pod's runtime class.
//
// The agent owns its node's local state under Options.DataDir:
//
//	pods/<uid>/pod.json      the desired pod, written (temp + fsync + rename)
//	                         before the agent acts on it
//	pods/<uid>/state.json    what the agent knows of its containers
//	                         (restart counts, last states, task handles)
//	pods/<uid>/logs/<c>.log  each container's stdout and stderr
//	pods/<uid>/volumes/<v>   the pod's emptyDir, configMap and secret volumes
//	configs/<kind>.<ns>.<name>.json  the ConfigMaps and Secrets its pods
//	                         reference (0600), as last sent
//	modules/sha256-<hex>.wasm  verified Wasm modules, cached by digest
//
// Pods run as the kubelet runs them: init containers one after the other,
// then the app containers; liveness, readiness and startup probes
// (probes.go); volumes (volumes.go); env from ConfigMaps, Secrets and the
// pod (env.go). What a pod may see of the node is the operator's choice:
// hostPath volumes only in Options.HostPathAllow, and hostPaths and
// subPaths handed to drivers pinned by descriptor (hostpaths.go).
//
// With no control plane the agent keeps running the pods it has, restarts
// them per restartPolicy and, after its own restart, starts them again from
// disk: tasks of drivers that survive an agent restart are recovered, the
// others count a restart (and, under restartPolicy Never, fail the pod, as
// a node reboot does in Kubernetes). A pod that completed is never run
// again. Status reports (api.AgentStatus) are queued, latest per pod wins,
// and resent until acknowledged; pod workers never wait on the network.
//
// The agent learns of connects and reconnects from nats.Conn.StatusChanged,
// so it needs no handler of the connection; Connect sets up a connection
// the way an agent needs it (its own inbox prefix, endless reconnects,
// starting while the server is away).
//
// Package edge imports api, runtimes, nats.go and fx; it never imports
// controlplane, web or a specific driver: drivers are handed in.
package edge
