// What the dashboard shows about objects, as pure functions of their JSON:
// kubectl-like status columns, rollout progress, and the one-line summary
// of a change for the feed. No DOM, no state.

// Well-known names of Kubernetes' Deployment machinery, which Skiff's
// controllers use too.
const REVISION = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH = "pod-template-hash";

export function keyOf(o) {
  const m = o.metadata || {};
  return `${m.namespace || ""}/${m.name || ""}`;
}

export function nodeReady(n) {
  const c = ((n.status && n.status.conditions) || []).find((x) => x.type === "Ready");
  if (!c) return "Unknown";
  return c.status === "True" ? "Ready" : c.status === "False" ? "NotReady" : "Unknown";
}

export function nodeArch(n) {
  return (n.status && n.status.nodeInfo && n.status.nodeInfo.architecture) || (n.metadata.labels || {})["kubernetes.io/arch"] || "unknown";
}

export function nodeOS(n) {
  return (n.status && n.status.nodeInfo && n.status.nodeInfo.operatingSystem) || (n.metadata.labels || {})["kubernetes.io/os"] || "";
}

export function nodeStatusCell(n) {
  const r = nodeReady(n);
  const text = n.spec && n.spec.unschedulable ? `${r}, SchedulingDisabled` : r;
  return { text, badge: r === "Ready" ? "ok" : "bad" };
}

export function podRuntime(p) {
  return p.spec && p.spec.runtimeClassName === "wasm" ? "Wasm" : "Container";
}

export function podReady(p) {
  const all = (p.spec && p.spec.containers) || [];
  const ready = ((p.status && p.status.containerStatuses) || []).filter((c) => c.ready).length;
  return `${ready}/${all.length}`;
}

export function podRestarts(p) {
  return ((p.status && p.status.containerStatuses) || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

// podStatus is the STATUS column of kubectl get pods: the reason a
// container waits or ended, else the phase.
export function podStatus(p) {
  const st = p.status || {};
  if (p.metadata.deletionTimestamp) return { text: "Terminating", badge: "warn" };
  for (const cs of st.containerStatuses || []) {
    const w = cs.state && cs.state.waiting;
    if (w && w.reason && w.reason !== "ContainerCreating" && w.reason !== "PodInitializing") {
      return { text: w.reason, badge: /BackOff|Err|Invalid|Cannot/.test(w.reason) ? "bad" : "warn" };
    }
  }
  if (st.phase !== "Succeeded") {
    for (const cs of st.containerStatuses || []) {
      const t = cs.state && cs.state.terminated;
      if (t && t.reason && t.reason !== "Completed") return { text: t.reason, badge: "bad" };
    }
  }
  if (st.reason) return { text: st.reason, badge: "bad" };
  const sched = (st.conditions || []).find((c) => c.type === "PodScheduled");
  if ((!st.phase || st.phase === "Pending") && sched && sched.status === "False") return { text: "Unschedulable", badge: "warn" };
  const phase = st.phase || "Pending";
  const badge = { Running: "ok", Succeeded: "info", Failed: "bad" }[phase] || "warn";
  return { text: phase, badge };
}

export function desired(d) {
  return d.spec && typeof d.spec.replicas === "number" ? d.spec.replicas : 1;
}

export function rolloutState(d) {
  const s = d.status || {};
  const want = desired(d);
  const conds = s.conditions || [];
  const progressing = conds.find((c) => c.type === "Progressing");
  if (d.spec && d.spec.paused) return { text: "Paused", badge: "warn" };
  if (progressing && progressing.status === "False") return { text: progressing.reason || "Stalled", badge: "bad" };
  const observed = (s.observedGeneration || 0) >= (d.metadata.generation || 0);
  const done = observed && (s.updatedReplicas || 0) === want && (s.availableReplicas || 0) === want && (s.replicas || 0) === want;
  return done ? { text: "Complete", badge: "ok" } : { text: "Progressing", badge: "info" };
}

export function rolloutCell(d) {
  const s = d.status || {};
  const want = desired(d);
  return {
    text: `${s.updatedReplicas || 0} updated · ${s.readyReplicas || 0} ready · ${s.availableReplicas || 0} available of ${want}`,
    meter: { value: Math.min(s.availableReplicas || 0, Math.max(want, 1)), max: want, label: `${s.availableReplicas || 0} of ${want} available` },
  };
}

export function jobState(j) {
  const conds = (j.status && j.status.conditions) || [];
  const on = (t) => conds.some((c) => c.type === t && c.status === "True");
  if (on("Complete")) return { text: "Complete", badge: "ok" };
  if (on("Failed")) return { text: "Failed", badge: "bad" };
  if (j.spec && j.spec.suspend) return { text: "Suspended", badge: "warn" };
  return { text: "Running", badge: "info" };
}

export function images(template) {
  const spec = (template && template.spec) || {};
  return (spec.containers || []).map((c) => c.image).join(", ");
}

// rollbackTemplate is a ReplicaSet's pod template as a Deployment's: without
// the hash label the controller adds, so that the Deployment's template
// hashes to that ReplicaSet again and the controller scales it back up.
export function rollbackTemplate(rs) {
  const t = structuredClone(rs.spec.template);
  if (t.metadata && t.metadata.labels) delete t.metadata.labels[TEMPLATE_HASH];
  return t;
}

export function revisionOf(rs) {
  return Number(((rs.metadata.annotations || {})[REVISION]) || 0);
}

export function describeChange(kind, type, o, prev) {
  if (kind === "ReplicaSet") return ""; // the Deployment's own changes say it
  if (type === "ADDED") return kind === "Node" ? "joined" : "created";
  if (type === "DELETED") return "deleted";
  if (!prev) return "changed";
  const parts = [];
  const moved = (label, a, b) => { if (a !== b) parts.push(`${label} ${a} → ${b}`); };
  switch (kind) {
    case "Pod": {
      if (!prev.metadata.deletionTimestamp && o.metadata.deletionTimestamp) parts.push("terminating");
      const pn = (prev.spec || {}).nodeName; const on = (o.spec || {}).nodeName;
      if (!pn && on) parts.push(`scheduled to ${on}`);
      moved("status", podStatus(prev).text, podStatus(o).text);
      moved("ready", podReady(prev), podReady(o));
      if (podRestarts(o) > podRestarts(prev)) parts.push(`restarted (${podRestarts(o)} restarts)`);
      break;
    }
    case "Node":
      moved("status", nodeReady(prev), nodeReady(o));
      if (!!(prev.spec || {}).unschedulable !== !!(o.spec || {}).unschedulable) parts.push(o.spec.unschedulable ? "cordoned" : "uncordoned");
      break;
    case "Deployment": {
      moved("scaled", desired(prev), desired(o));
      if ((o.metadata.generation || 0) > (prev.metadata.generation || 0) && desired(prev) === desired(o)) parts.push("new rollout");
      const was = rolloutState(prev).text; const is = rolloutState(o).text;
      if (was !== is) parts.push(is === "Complete" ? "rollout complete" : `rollout ${is.toLowerCase()}`);
      break;
    }
    case "DaemonSet": {
      const a = prev.status || {}; const b = o.status || {};
      moved("desired", a.desiredNumberScheduled || 0, b.desiredNumberScheduled || 0);
      moved("ready", a.numberReady || 0, b.numberReady || 0);
      break;
    }
    case "Job":
      moved("status", jobState(prev).text, jobState(o).text);
      moved("succeeded", (prev.status || {}).succeeded || 0, (o.status || {}).succeeded || 0);
      break;
  }
  return parts.join(", ");
}

