// The Skiff dashboard: sign-in, live views over watches, and actions.
import { ApiError, Kinds, Session, Watch } from "./api.js";
import { splitDocuments, header } from "./manifest.js";
import { age, clock, h, setEmpty, showError, syncRows } from "./dom.js";
import {
  describeChange, desired, images, jobState, keyOf, nodeArch, nodeOS, nodeReady, nodeStatusCell,
  podReady, podRestarts, podRuntime, podStatus, revisionOf, rollbackTemplate, rolloutCell, rolloutState,
} from "./model.js";

const config = JSON.parse(document.getElementById("skiff-config").textContent);
const kinds = new Kinds(config);
const session = new Session();
const $ = (id) => document.getElementById(id);


// Collections the dashboard watches, by resource. nodes and pods are
// watched while signed in (the overview and the feed need them); the
// workloads while a view shows them (ReplicaSets for a Deployment's
// revisions), and for LINGER_MS after, so that moving between views does
// not list again. Each watch holds one of the about six HTTP/1.1
// connections a browser opens to one server, so at most MAX_STREAMS run:
// past that, watches no view needs stop at once, leaving connections for
// requests.
const COLLECTIONS = { nodes: "Node", pods: "Pod", deployments: "Deployment", daemonsets: "DaemonSet", jobs: "Job", replicasets: "ReplicaSet" };
const ALWAYS = ["nodes", "pods"];
const WORKLOADS = ["deployments", "daemonsets", "jobs"];
const LINGER_MS = 20000;
const MAX_STREAMS = 5;
const FEED_LIMIT = 200;

const state = {
  signedIn: false,
  namespace: "",
  data: Object.fromEntries(Object.keys(COLLECTIONS).map((r) => [r, new Map()])),
  loaded: {},
  watches: new Map(), // resource -> {watch, namespace, stopTimer}
  watchState: {}, // resource -> {state, error}
  feed: [],
  feedSeq: 0,
  route: { name: "", args: [] },
  dirty: false,
};

// ---------------------------------------------------------------------------
// Sign-in

session.onUnauthorized = (err) => {
  if (!state.signedIn && !session.token) return;
  showLogin(`The API server refused the token: ${err.message}`);
};

// showLogin shows the sign-in form; focus moves to the token field unless
// the page has just loaded (then the skip link comes first, as on any page).
function showLogin(message, pageLoad) {
  state.signedIn = false;
  state.identity = null;
  session.token = "";
  stopAllWatches();
  stopLogs();
  $("session").hidden = true;
  $("nav").hidden = true;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-login";
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").setAttribute("aria-invalid", message ? "true" : "false");
  document.title = "Sign in · Skiff";
  if (!pageLoad) $("token").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (!token) {
    $("login-error").textContent = "Enter an API token.";
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
    return;
  }
  const button = e.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  $("login-error").textContent = "";
  session.token = token;
  try {
    // Any answer but 401 means the token is good; 403 only means it may
    // not list every pod, which the views say where it matters.
    if (config.whoAmIPath) await whoAmI();
    else await session.request("GET", kinds.path("Pod", "", ""), { query: { limit: "1" } });
  } catch (err) {
    if (err.code === 401) {
      showLogin(`The API server refused the token: ${err.message}`);
      button.disabled = false;
      return;
    }
    if (err.code === 0) {
      session.token = "";
      $("login-error").textContent = err.message;
      button.disabled = false;
      return;
    }
  }
  button.disabled = false;
  signedIn(true);
});

$("logout").addEventListener("click", () => {
  showLogin("");
  location.hash = "";
});

// signedIn shows the dashboard; after the sign-in form, focus moves to the
// view's heading (the form it was on is gone).
function signedIn(fromForm) {
  state.signedIn = true;
  $("session").hidden = false;
  $("nav").hidden = false;
  $("login-error").textContent = "";
  showIdentity();
  loadNamespaceNames();
  route(!fromForm);
  if (!fromForm && config.whoAmIPath && !state.identity) whoAmI().then(showIdentity, () => {});
}

// whoAmI asks the server what the token is: its name, role and namespace.
// A 404 is an API server without it (the dashboard then learns the token's
// limits from the errors of what it tries).
async function whoAmI() {
  try {
    const id = await session.json("GET", config.whoAmIPath);
    state.identity = id && id.name && id.role ? id : null;
  } catch (err) {
    if (err.code === 404) return;
    throw err;
  }
}

// showIdentity names the token in the header; a token scoped to one
// namespace starts there, and a view token's actions are disabled with a
// note that says why.
function showIdentity() {
  const id = state.identity;
  const el = $("identity");
  if (!id) {
    el.hidden = true;
    setReadOnly(false, "");
    return;
  }
  el.hidden = false;
  el.textContent = `${id.name} (${id.role}${id.namespace ? ` in ${id.namespace}` : ""})`;
  if (id.namespace && state.namespace !== id.namespace) {
    $("namespace").value = id.namespace;
    applyNamespace();
  }
  setReadOnly(id.role === "view", id.name);
}

function setReadOnly(readOnly, name) {
  state.readOnly = readOnly;
  for (const b of document.querySelectorAll("[data-write]")) b.disabled = readOnly;
  for (const n of document.querySelectorAll(".readonly-note")) {
    n.hidden = !readOnly;
    n.textContent = readOnly ? `The token ${name} has the view role: it can look but not change anything.` : "";
  }
}

// ---------------------------------------------------------------------------
// Watches

function resourcePath(resource) {
  const kind = COLLECTIONS[resource];
  return kinds.path(kind, kinds.get(kind).namespaced ? state.namespace : "", "");
}

function startWatch(resource) {
  const entry = state.watches.get(resource);
  if (entry) {
    clearTimeout(entry.stopTimer);
    entry.stopTimer = 0;
    return;
  }
  const data = state.data[resource];
  const w = new Watch(session, resourcePath(resource), {
    reset(items) {
      data.clear();
      for (const o of items) data.set(keyOf(o), o);
      state.loaded[resource] = true;
      render();
    },
    change(type, obj) {
      const k = keyOf(obj);
      const prev = data.get(k);
      if (type === "DELETED") data.delete(k);
      else data.set(k, obj);
      noteChange(resource, type, obj, prev);
      render();
    },
    state(s, err) {
      state.watchState[resource] = { state: s, error: err };
      showWatchState(resource);
    },
  });
  state.watches.set(resource, { watch: w, stopTimer: 0 });
  w.start();
}

function stopWatch(resource) {
  const entry = state.watches.get(resource);
  if (!entry) return;
  clearTimeout(entry.stopTimer);
  entry.watch.stop();
  state.watches.delete(resource);
  state.data[resource].clear();
  state.loaded[resource] = false;
  delete state.watchState[resource];
  showWatchState(resource);
}

function stopAllWatches() {
  for (const r of [...state.watches.keys()]) stopWatch(r);
}

// ensureWatches runs the watches the current view needs; the others stop
// after LINGER_MS.
function ensureWatches() {
  if (!state.signedIn) return;
  const need = new Set(ALWAYS);
  const { name, args } = state.route;
  if (name === "workloads" || name === "events") WORKLOADS.forEach((r) => need.add(r));
  if (name === "object") {
    const r = resourceOfKind(args[0]);
    if (r) need.add(r);
    if (args[0] === "Deployment") need.add("replicasets"); // its revisions
  }
  let total = new Set([...state.watches.keys(), ...need]).size;
  for (const [r, entry] of [...state.watches]) {
    if (need.has(r)) continue;
    if (total > MAX_STREAMS) {
      stopWatch(r);
      total--;
    } else if (!entry.stopTimer) {
      entry.stopTimer = setTimeout(() => stopWatch(r), LINGER_MS);
    }
  }
  for (const r of need) startWatch(r);
}

function restartNamespacedWatches() {
  for (const r of [...state.watches.keys()]) {
    if (kinds.get(COLLECTIONS[r]).namespaced) stopWatch(r);
  }
  ensureWatches();
  render();
}

function resourceOfKind(kind) {
  return Object.keys(COLLECTIONS).find((r) => COLLECTIONS[r] === kind);
}

function showWatchState(resource) {
  const ws = state.watchState[resource];
  for (const el of document.querySelectorAll(`.watch-error[data-watch="${resource}"]`)) {
    if (ws && ws.state === "error" && ws.error) {
      let hint = "";
      if (ws.error.code === 403 && !state.namespace) hint = " Enter a namespace your token may read at the top of the page.";
      showError(el, { message: `${ws.error.message}${hint}`, causes: ws.error.causes }, `Cannot follow ${resource}`);
    } else {
      showError(el, null);
    }
  }
  const states = Object.values(state.watchState).map((w) => w.state);
  const conn = $("connection");
  let text = "Live";
  let cls = "connection live";
  if (states.includes("error")) { text = "Error"; cls = "connection down"; }
  else if (states.includes("reconnecting")) { text = "Reconnecting…"; cls = "connection"; }
  else if (states.includes("loading") || states.length === 0) { text = "Loading…"; cls = "connection"; }
  if (conn.textContent !== text) conn.textContent = text;
  conn.className = cls;
}

// ---------------------------------------------------------------------------
// Namespace scope

$("namespace").addEventListener("change", applyNamespace);
$("namespace").addEventListener("keydown", (e) => {
  if (e.key === "Enter") applyNamespace();
});

function applyNamespace() {
  const ns = $("namespace").value.trim();
  if (ns === state.namespace) return;
  state.namespace = ns;
  $("pods-scope").textContent = ns ? `namespace ${ns}` : "all namespaces";
  restartNamespacedWatches();
}

async function loadNamespaceNames() {
  try {
    const { items } = await session.list(kinds.path("Namespace", "", ""));
    state.namespaceNames = items.map((n) => n.metadata.name);
  } catch {
    state.namespaceNames = []; // suggestions then come from what is watched
  }
  render();
}

function renderNamespaceList() {
  const names = new Set(state.namespaceNames || []);
  names.add("default");
  for (const r of ["pods", "deployments", "daemonsets", "jobs"]) {
    for (const o of state.data[r].values()) if (o.metadata.namespace) names.add(o.metadata.namespace);
  }
  const list = $("namespaces");
  const sorted = [...names].sort();
  if (list.dataset.sig === sorted.join(",")) return;
  list.dataset.sig = sorted.join(",");
  list.replaceChildren(...sorted.map((n) => h("option", { value: n })));
}

// ---------------------------------------------------------------------------
// Routing: #/overview, #/nodes, #/workloads, #/pods, #/events, #/apply,
// #/logs/<ns>/<pod>, #/obj/<Kind>/<ns or _>/<name>

const VIEWS = ["overview", "nodes", "workloads", "pods", "events", "apply", "logs", "object"];
const TITLES = { overview: "Overview", nodes: "Nodes", workloads: "Workloads", pods: "Pods", events: "Events", apply: "Apply", logs: "Log", object: "Object" };

window.addEventListener("hashchange", () => route(false));

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let name = parts[0] || "overview";
  if (name === "obj") name = "object";
  if (!VIEWS.includes(name)) name = "overview";
  return { name, args: parts.slice(1) };
}

function route(initial) {
  if (!state.signedIn) return;
  const prev = state.route;
  state.route = parseHash();
  const { name } = state.route;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  $("view-login").hidden = true;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (prev.name === "logs" && (name !== "logs" || prev.args.join("/") !== state.route.args.join("/"))) stopLogs();
  if (name === "logs") openLogs(state.route.args[0], state.route.args[1]);
  if (name === "object") openObject();
  else objectView.key = "";
  ensureWatches();
  renderNow();
  document.title = `${viewTitle()} · Skiff`;
  if (!initial) {
    const heading = document.querySelector(`#view-${name} h1`);
    if (heading) heading.focus();
  }
}

function viewTitle() {
  const { name, args } = state.route;
  if (name === "object") return `${args[0] || ""} ${args[2] || ""}`.trim();
  if (name === "logs") return `Log of ${args[1] || ""}`;
  return TITLES[name];
}

function objectHref(kind, ns, name) {
  return `#/obj/${encodeURIComponent(kind)}/${encodeURIComponent(ns || "_")}/${encodeURIComponent(name)}`;
}

// ---------------------------------------------------------------------------
// Rendering, at most once per frame

function render() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(renderNow);
}

function renderNow() {
  state.dirty = false;
  if (!state.signedIn) return;
  const now = Date.now();
  renderNamespaceList();
  switch (state.route.name) {
    case "overview": renderOverview(); break;
    case "nodes": renderNodes(now); break;
    case "workloads": renderWorkloads(now); break;
    case "pods": renderPods(now); break;
    case "object": renderObject(now); break;
  }
}

// Ages move on without any change: redraw them now and then (no request).
setInterval(() => { if (state.signedIn && document.visibilityState === "visible") render(); }, 10000);

function sorted(resource) {
  const ns = state.namespace;
  return [...state.data[resource].values()]
    .filter((o) => !ns || !o.metadata.namespace || o.metadata.namespace === ns)
    .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

// Nodes

function renderNodes(now) {
  syncRows($("nodes-table"), sorted("nodes"), keyOf, [
    { label: "Name", value: (n) => ({ text: n.metadata.name, href: objectHref("Node", "", n.metadata.name) }) },
    { label: "Status", value: nodeStatusCell },
    { label: "Arch", value: nodeArch },
    { label: "OS", value: nodeOS },
    { label: "Runtimes", value: (n) => ((n.status && n.status.runtimeHandlers) || []).map((r) => r.name).join(", ") },
    { label: "Age", value: (n) => age(n.metadata.creationTimestamp, now) },
  ]);
}

// Pods

function renderPods(now) {
  syncRows($("pods-table"), sorted("pods"), keyOf, [
    { label: "Name", value: (p) => ({ text: p.metadata.name, href: objectHref("Pod", p.metadata.namespace, p.metadata.name) }) },
    { label: "Namespace", value: (p) => p.metadata.namespace },
    { label: "Ready", value: podReady },
    { label: "Status", value: podStatus },
    { label: "Node", value: (p) => (p.spec && p.spec.nodeName) || "—" },
    { label: "Runtime", value: podRuntime },
    { label: "Restarts", value: (p) => String(podRestarts(p)) },
    { label: "Age", value: (p) => age(p.metadata.creationTimestamp, now) },
    { label: "Log", value: (p) => ({ text: `Log of ${p.metadata.name}`, href: `#/logs/${encodeURIComponent(p.metadata.namespace)}/${encodeURIComponent(p.metadata.name)}` }) },
  ]);
}

// Workloads

function renderWorkloads(now) {
  syncRows($("deployments-table"), sorted("deployments"), keyOf, [
    { label: "Name", value: (d) => ({ text: d.metadata.name, href: objectHref("Deployment", d.metadata.namespace, d.metadata.name) }) },
    { label: "Namespace", value: (d) => d.metadata.namespace },
    { label: "Desired", value: (d) => String(desired(d)) },
    { label: "Rollout", value: (d) => ({ ...rolloutCell(d), text: `${rolloutState(d).text}: ${rolloutCell(d).text}` }) },
    { label: "Age", value: (d) => age(d.metadata.creationTimestamp, now) },
  ]);
  syncRows($("daemonsets-table"), sorted("daemonsets"), keyOf, [
    { label: "Name", value: (d) => ({ text: d.metadata.name, href: objectHref("DaemonSet", d.metadata.namespace, d.metadata.name) }) },
    { label: "Namespace", value: (d) => d.metadata.namespace },
    { label: "Desired", value: (d) => String((d.status || {}).desiredNumberScheduled || 0) },
    { label: "Current", value: (d) => String((d.status || {}).currentNumberScheduled || 0) },
    { label: "Ready", value: (d) => String((d.status || {}).numberReady || 0) },
    { label: "Age", value: (d) => age(d.metadata.creationTimestamp, now) },
  ]);
  syncRows($("jobs-table"), sorted("jobs"), keyOf, [
    { label: "Name", value: (j) => ({ text: j.metadata.name, href: objectHref("Job", j.metadata.namespace, j.metadata.name) }) },
    { label: "Namespace", value: (j) => j.metadata.namespace },
    { label: "Completions", value: (j) => `${(j.status || {}).succeeded || 0}/${(j.spec && j.spec.completions) || 1}` },
    { label: "Active", value: (j) => String((j.status || {}).active || 0) },
    { label: "Failed", value: (j) => String((j.status || {}).failed || 0) },
    { label: "Status", value: jobState },
    { label: "Age", value: (j) => age(j.metadata.creationTimestamp, now) },
  ]);
}

// Overview

function renderOverview() {
  const byArch = new Map();
  for (const n of state.data.nodes.values()) {
    const a = nodeArch(n);
    const c = byArch.get(a) || { arch: a, ready: 0, notReady: 0 };
    if (nodeReady(n) === "Ready") c.ready++;
    else c.notReady++;
    byArch.set(a, c);
  }
  const archRows = [...byArch.values()].sort((a, b) => a.arch.localeCompare(b.arch));
  syncRows($("ov-nodes"), archRows, (r) => r.arch, [
    { label: "Architecture", value: (r) => r.arch },
    { label: "Ready", value: (r) => String(r.ready) },
    { label: "Not ready", value: (r) => String(r.notReady) },
  ]);
  // A pod whose phase is Running but whose containers crash or cannot
  // start (CrashLoopBackOff, ErrImagePull, OOMKilled…) is not counted as
  // Running: it needs attention.
  const phases = { Pending: 0, Running: 0, Failing: 0, Succeeded: 0, Failed: 0, Unknown: 0 };
  const runtimes = { Wasm: 0, Container: 0 };
  for (const p of sorted("pods")) {
    let ph = (p.status && p.status.phase) || "Pending";
    if (ph === "Running" && podStatus(p).badge === "bad") ph = "Failing";
    phases[ph] = (phases[ph] || 0) + 1;
    runtimes[podRuntime(p)]++;
  }
  counts($("ov-phases"), Object.entries(phases));
  counts($("ov-runtimes"), [["Wasm pods", runtimes.Wasm], ["Container pods", runtimes.Container]]);
  renderOverviewFeed();
}

function counts(dl, entries) {
  const sig = JSON.stringify(entries);
  if (dl.dataset.sig === sig) return;
  dl.dataset.sig = sig;
  dl.replaceChildren(...entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-count": k }, String(v))]));
}

// ---------------------------------------------------------------------------
// The change feed: derived from the watch events this page receives.

function noteChange(resource, type, obj, prev) {
  const kind = COLLECTIONS[resource];
  const what = describeChange(kind, type, obj, prev);
  if (!what) return;
  const entry = { id: ++state.feedSeq, at: new Date(), kind, ns: obj.metadata.namespace || "", name: obj.metadata.name, what, type };
  state.feed.unshift(entry);
  if (state.feed.length > FEED_LIMIT) state.feed.length = FEED_LIMIT;
  const list = $("events-feed");
  list.prepend(feedItem(entry));
  while (list.children.length > FEED_LIMIT) list.lastElementChild.remove();
  setEmpty("events-feed", false);
}

function feedItem(e) {
  const name = e.ns ? `${e.ns}/${e.name}` : e.name;
  const link = e.type === "DELETED" ? h("span", {}, name) : h("a", { href: objectHref(e.kind, e.ns, e.name) }, name);
  return h("li", { "data-kind": e.kind, "data-name": name },
    h("time", { datetime: e.at.toISOString() }, clock(e.at)),
    h("span", { class: "badge" }, e.kind), link, h("span", {}, e.what));
}

function renderOverviewFeed() {
  const list = $("ov-feed");
  const top = state.feed.slice(0, 8);
  const sig = top.map((e) => e.id).join(",");
  if (list.dataset.sig !== sig) {
    list.dataset.sig = sig;
    list.replaceChildren(...top.map(feedItem));
  }
  setEmpty("ov-feed", top.length === 0);
}

// ---------------------------------------------------------------------------
// One object: summary, actions, raw JSON

const objectView = { key: "", replicasEdited: false };

function currentObject() {
  const [kind, ns, name] = state.route.args;
  const r = resourceOfKind(kind);
  if (!r) return { kind, ns, name, resource: null, obj: null };
  const namespace = ns === "_" ? "" : ns;
  return { kind, ns: namespace, name, resource: r, obj: state.data[r].get(`${namespace}/${name}`) || null };
}

function openObject() {
  const { kind, ns, name } = currentObject();
  const key = `${kind}/${ns}/${name}`;
  if (objectView.key === key) return;
  objectView.key = key;
  objectView.replicasEdited = false;
  $("rollback-revision").dataset.sig = "";
  for (const id of ["scale-error", "rollback-error", "delete-error"]) showError($(id), null);
  for (const id of ["scale-result", "rollback-result", "delete-result"]) $(id).textContent = "";
  $("scale-replicas").value = "";
  $("scale-replicas").removeAttribute("aria-invalid");
  hideDeleteConfirm();
  $("scale-section").hidden = kind !== "Deployment";
  $("rollback-section").hidden = kind !== "Deployment";
  $("logs-section").hidden = kind !== "Pod";
  $("delete-section").hidden = kind === "Node";
  $("delete-start").textContent = `Delete ${kind ? kind.toLowerCase() : ""}…`;
  $("object-h").textContent = `${kind} ${ns ? `${ns}/` : ""}${name}`;
  $("object-logs-link").href = `#/logs/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

function renderObject(now) {
  const { kind, ns, name, resource, obj } = currentObject();
  const missing = $("object-missing");
  if (!resource) {
    missing.hidden = false;
    missing.textContent = `The dashboard does not show ${kind} objects.`;
    return;
  }
  if (!obj) {
    missing.hidden = false;
    missing.textContent = state.loaded[resource] ? `${kind} ${ns ? `${ns}/` : ""}${name} does not exist (any more).` : "Loading…";
    $("object-summary").replaceChildren();
    $("object-json").textContent = "";
    return;
  }
  missing.hidden = true;
  const rows = summaryOf(kind, obj, now);
  const dl = $("object-summary");
  const sig = JSON.stringify(rows);
  if (dl.dataset.sig !== sig) {
    dl.dataset.sig = sig;
    dl.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-field": k }, v)]));
  }
  const json = JSON.stringify(obj, null, 2);
  if ($("object-json").textContent !== json) $("object-json").textContent = json;
  if (kind === "Deployment") {
    const input = $("scale-replicas");
    if (!objectView.replicasEdited && document.activeElement !== input) input.value = String(desired(obj));
    renderRevisions(obj);
  }
}

function summaryOf(kind, o, now) {
  const m = o.metadata;
  const rows = [];
  if (m.namespace) rows.push(["Namespace", m.namespace]);
  switch (kind) {
    case "Deployment": {
      const s = o.status || {};
      rows.push(["Desired replicas", String(desired(o))], ["Updated", String(s.updatedReplicas || 0)],
        ["Ready", String(s.readyReplicas || 0)], ["Available", String(s.availableReplicas || 0)],
        ["Rollout", rolloutState(o).text], ["Images", images(o.spec.template)], ["Strategy", (o.spec.strategy || {}).type || "RollingUpdate"]);
      break;
    }
    case "Pod":
      rows.push(["Status", podStatus(o).text], ["Ready", podReady(o)], ["Node", (o.spec && o.spec.nodeName) || "—"],
        ["Runtime", podRuntime(o)], ["Restarts", String(podRestarts(o))], ["Images", images({ spec: o.spec })]);
      break;
    case "Node":
      rows.push(["Status", nodeStatusCell(o).text], ["Architecture", nodeArch(o)], ["OS", nodeOS(o)],
        ["Runtimes", ((o.status && o.status.runtimeHandlers) || []).map((r) => r.name).join(", ")]);
      break;
    case "DaemonSet": {
      const s = o.status || {};
      rows.push(["Desired", String(s.desiredNumberScheduled || 0)], ["Current", String(s.currentNumberScheduled || 0)],
        ["Ready", String(s.numberReady || 0)], ["Images", images(o.spec.template)]);
      break;
    }
    case "Job": {
      const s = o.status || {};
      rows.push(["Status", jobState(o).text], ["Succeeded", String(s.succeeded || 0)], ["Active", String(s.active || 0)],
        ["Failed", String(s.failed || 0)], ["Images", images(o.spec.template)]);
      break;
    }
  }
  rows.push(["Age", age(m.creationTimestamp, now)]);
  return rows;
}

$("scale-replicas").addEventListener("input", () => { objectView.replicasEdited = true; });

// writeDeployment reads the Deployment, changes it and replaces it
// (conditionally, on the resourceVersion it read), reading again when
// someone else wrote in between: during a rollout the controllers write
// the status often, and every write moves the resourceVersion.
async function writeDeployment(ns, name, change) {
  const path = kinds.path("Deployment", ns, name);
  const attempts = 8;
  for (let attempt = 1; ; attempt++) {
    const d = await session.json("GET", path);
    change(d);
    try {
      return await session.json("PUT", path, { body: JSON.stringify(d), contentType: "application/json" });
    } catch (e) {
      if (!(e.code === 409 && e.reason === "Conflict") || attempt === attempts) throw e;
    }
    const ms = Math.min(25 * 2 ** attempt, 1000);
    await new Promise((resolve) => setTimeout(resolve, ms / 2 + Math.random() * ms / 2));
  }
}

// scaleDeployment sets spec.replicas: with a JSON merge patch, which the
// server applies to the newest state, or where the server has no PATCH
// (405), by replacing the object.
async function scaleDeployment(ns, name, replicas) {
  try {
    return await session.json("PATCH", kinds.path("Deployment", ns, name), {
      body: JSON.stringify({ spec: { replicas } }), contentType: "application/merge-patch+json",
    });
  } catch (e) {
    if (e.code !== 405) throw e;
  }
  return writeDeployment(ns, name, (d) => { d.spec.replicas = replicas; });
}

$("scale-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ns, name } = currentObject();
  const input = $("scale-replicas");
  const errBox = $("scale-error");
  $("scale-result").textContent = "";
  const n = Number(input.value);
  if (input.value.trim() === "" || !Number.isInteger(n) || n < 0) {
    input.setAttribute("aria-invalid", "true");
    showError(errBox, { message: "Replicas must be a whole number, 0 or more.", causes: [{ field: "spec.replicas", message: `${JSON.stringify(input.value)} is not a whole number of 0 or more` }] });
    input.focus();
    return;
  }
  await busy(e, async () => {
    try {
      await scaleDeployment(ns, name, n);
      input.removeAttribute("aria-invalid");
      showError(errBox, null);
      objectView.replicasEdited = false;
      $("scale-result").textContent = `Scaled to ${n} replica${n === 1 ? "" : "s"}.`;
    } catch (err) {
      input.setAttribute("aria-invalid", "true");
      showError(errBox, err, "Scale failed");
    }
  });
});

// Rollback: the ReplicaSets the Deployment owns (watched while its page is
// open), by revision.

function renderRevisions(d) {
  const select = $("rollback-revision");
  const owned = [...state.data.replicasets.values()].filter((rs) =>
    (rs.metadata.ownerReferences || []).some((r) => r.kind === "Deployment" && r.uid === d.metadata.uid));
  owned.sort((a, b) => revisionOf(b) - revisionOf(a));
  const older = owned.slice(1); // the newest revision is the current template
  state.revisions = new Map(older.map((rs) => [String(revisionOf(rs)), rs]));
  const options = older.map((rs) => [String(revisionOf(rs)), `Revision ${revisionOf(rs)}: ${images(rs.spec.template)}`]);
  const sig = state.loaded.replicasets ? JSON.stringify(options) : "loading";
  if (select.dataset.sig === sig) return;
  select.dataset.sig = sig;
  const prevValue = select.value;
  if (options.length === 0) {
    select.replaceChildren(h("option", { value: "" }, state.loaded.replicasets ? "No older revision" : "Loading…"));
  } else {
    select.replaceChildren(...options.map(([value, text]) => h("option", { value }, text)));
    if (state.revisions.has(prevValue)) select.value = prevValue;
  }
  select.disabled = options.length === 0;
  $("rollback-form").querySelector("button").disabled = options.length === 0 || state.readOnly;
}

$("rollback-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ns, name } = currentObject();
  const rev = $("rollback-revision").value;
  const rs = state.revisions && state.revisions.get(rev);
  $("rollback-result").textContent = "";
  if (!rs) {
    showError($("rollback-error"), { message: "Choose a revision to roll back to." });
    return;
  }
  await busy(e, async () => {
    try {
      await writeDeployment(ns, name, (d) => {
        d.spec.template = rollbackTemplate(rs);
      });
      showError($("rollback-error"), null);
      $("rollback-result").textContent = `Rolling back to revision ${rev}.`;
    } catch (err) {
      showError($("rollback-error"), err, "Roll back failed");
    }
  });
});

// Delete, confirmed in place.

function hideDeleteConfirm() {
  $("delete-confirm").hidden = true;
  $("delete-start").hidden = false;
}

$("delete-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const { kind, ns, name } = currentObject();
  $("delete-question").textContent = `Delete ${kind} ${ns ? `${ns}/` : ""}${name}?`;
  $("delete-start").hidden = true;
  $("delete-confirm").hidden = false;
  $("delete-no").focus();
});

$("delete-no").addEventListener("click", () => {
  hideDeleteConfirm();
  $("delete-start").focus();
});

$("delete-yes").addEventListener("click", async (e) => {
  const { kind, ns, name } = currentObject();
  $("delete-result").textContent = "";
  await busy(e, async () => {
    try {
      const gone = await session.json("DELETE", kinds.path(kind, ns, name));
      showError($("delete-error"), null);
      hideDeleteConfirm();
      const marked = gone && gone.metadata && gone.metadata.deletionTimestamp;
      $("delete-result").textContent = marked ? `${kind} ${name} is terminating.` : `${kind} ${name} deleted.`;
      $("delete-start").focus();
    } catch (err) {
      hideDeleteConfirm();
      showError($("delete-error"), err, "Delete failed");
      $("delete-start").focus();
    }
  });
});

// busy disables the control that started an action while it runs.
async function busy(e, fn) {
  const b = e.submitter || e.currentTarget || e.target;
  const button = b && b.tagName === "BUTTON" ? b : null;
  if (button) button.disabled = true;
  try {
    await fn();
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Apply manifests

$("apply-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const docs = splitDocuments($("manifest").value);
  const results = $("apply-results");
  results.replaceChildren();
  if (docs.length === 0) {
    $("apply-status").textContent = "Nothing to apply: the text has no documents.";
    return;
  }
  $("apply-status").textContent = `Applying ${docs.length} document${docs.length === 1 ? "" : "s"}…`;
  let failed = 0;
  await busy(e, async () => {
    for (let i = 0; i < docs.length; i++) {
      const li = h("li", { "data-doc": i + 1 }, `Document ${i + 1} (line ${docs[i].line}): applying…`);
      results.append(li);
      try {
        const { label, verb } = await applyDocument(docs[i].text);
        li.className = "done";
        li.replaceChildren(`Document ${i + 1}: ${label} ${verb}.`);
      } catch (err) {
        failed++;
        li.className = "failed";
        const box = h("div", { class: "form-error" });
        showError(box, err);
        li.replaceChildren(`Document ${i + 1} (line ${docs[i].line}) failed:`, box);
      }
    }
  });
  $("apply-status").textContent = failed
    ? `${docs.length - failed} of ${docs.length} documents applied; ${failed} failed.`
    : `All ${docs.length} document${docs.length === 1 ? "" : "s"} applied.`;
});

async function applyDocument(text) {
  let hd;
  try {
    hd = header(text);
  } catch (err) {
    throw new ApiError({ message: err.message }, 400);
  }
  if (!hd.kind) {
    throw new ApiError({ message: "the document has no kind", details: { causes: [{ field: "kind", message: "required: every document needs apiVersion and kind" }] } }, 400);
  }
  const k = kinds.byKind.get(hd.kind);
  if (!k) {
    throw new ApiError({ message: `kind ${hd.kind} is not one Skiff serves (${kinds.names().join(", ")})`, details: { causes: [{ field: "kind", message: `unknown kind ${JSON.stringify(hd.kind)}` }] } }, 400);
  }
  const ns = k.namespaced ? hd.namespace || state.namespace || "default" : "";
  const label = `${k.kind} ${ns ? `${ns}/` : ""}${hd.name || hd.generateName || ""}`;
  const contentType = text.trim().startsWith("{") ? "application/json" : "application/yaml";
  try {
    await session.json("POST", kinds.path(k, ns, ""), { body: text, contentType });
    return { label, verb: "created" };
  } catch (err) {
    if (!(err.code === 409 && err.reason === "AlreadyExists" && hd.name)) throw err;
  }
  await session.json("PUT", kinds.path(k, ns, hd.name), { body: text, contentType });
  return { label, verb: "configured" };
}

// ---------------------------------------------------------------------------
// Logs: the last lines of a container's log, read again every second while
// Follow is on (the log endpoint has no follow stream yet).

const logs = { ns: "", name: "", timer: 0, abort: null, gen: 0, statusText: "" };
const LOG_INTERVAL_MS = 1000;

async function openLogs(ns, name) {
  if (logs.ns === ns && logs.name === name && (logs.timer || logs.abort)) return;
  stopLogs();
  logs.ns = ns;
  logs.name = name;
  $("logs-h").textContent = `Log of pod ${ns}/${name}`;
  $("logs-pod-link").href = objectHref("Pod", ns, name);
  $("logs-output").textContent = "";
  showError($("logs-error"), null);
  const gen = logs.gen;
  let pod = state.data.pods.get(`${ns}/${name}`);
  if (!pod) {
    try {
      pod = await session.json("GET", kinds.path("Pod", ns, name));
    } catch (err) {
      showError($("logs-error"), err, "Cannot read the pod");
      return;
    }
  }
  if (gen !== logs.gen) return;
  const names = ((pod.spec && pod.spec.containers) || []).map((c) => c.name);
  const select = $("logs-container");
  select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
  $("logs-container-field").hidden = names.length < 2;
  pollLogs();
}

function stopLogs() {
  logs.gen++;
  clearTimeout(logs.timer);
  logs.timer = 0;
  if (logs.abort) logs.abort.abort();
  logs.abort = null;
}

function setLogStatus(text) {
  if (logs.statusText === text) return; // announce changes only
  logs.statusText = text;
  $("logs-status").textContent = text;
}

async function pollLogs() {
  const gen = logs.gen;
  const out = $("logs-output");
  const tail = Math.min(Math.max(parseInt($("logs-tail").value, 10) || 200, 1), 5000);
  const query = { tailLines: String(tail) };
  if ($("logs-container").value) query.container = $("logs-container").value;
  logs.abort = new AbortController();
  let delay = LOG_INTERVAL_MS;
  try {
    const text = await session.text("GET", kinds.logPath(logs.ns, logs.name), { query, signal: logs.abort.signal });
    if (gen !== logs.gen) return;
    const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
    if (out.textContent !== text) {
      out.textContent = text;
      if (atBottom) out.scrollTop = out.scrollHeight;
    }
    showError($("logs-error"), null);
    setLogStatus($("logs-follow").checked ? `Following the last ${tail} lines.` : "Paused.");
  } catch (err) {
    if (gen !== logs.gen || err.name === "AbortError") return;
    showError($("logs-error"), err, "Cannot read the log");
    if (err.code === 404 || err.code === 401) {
      setLogStatus("Stopped.");
      return;
    }
    delay = 3000;
  } finally {
    if (gen === logs.gen) logs.abort = null;
  }
  if (gen === logs.gen && $("logs-follow").checked) logs.timer = setTimeout(pollLogs, delay);
}

for (const id of ["logs-follow", "logs-container", "logs-tail"]) {
  $(id).addEventListener("change", () => {
    if (state.route.name !== "logs") return;
    stopLogs();
    if ($("logs-follow").checked) pollLogs();
    else setLogStatus("Paused.");
  });
}
$("logs-form").addEventListener("submit", (e) => e.preventDefault());

// ---------------------------------------------------------------------------
// Start

if (session.token) signedIn(false);
else showLogin("", true);
