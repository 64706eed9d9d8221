// Talking to Skiff's REST API: the bearer token, errors in the Status
// shape, lists, and watches over Server-Sent Events.

const TOKEN_KEY = "skiff.token";

// ApiError is a failed request: the server's Status (message, reason,
// details.causes[].field) or a connection failure (code 0).
export class ApiError extends Error {
  constructor(status, httpCode) {
    super(status.message || `HTTP ${httpCode}`);
    this.name = "ApiError";
    this.code = status.code || httpCode || 0;
    this.reason = status.reason || "";
    this.causes = (status.details && status.details.causes) || [];
  }
}

// Kinds holds the kinds table the server wrote into the page.
export class Kinds {
  constructor(config) {
    this.byKind = new Map();
    this.byAPI = new Map();
    for (const k of config.kinds) {
      this.byKind.set(k.kind, k);
      this.byAPI.set(`${k.apiVersion}/${k.kind}`, k);
    }
    this.logSubresource = config.logSubresource;
  }

  get(kind) {
    const k = this.byKind.get(kind);
    if (!k) throw new Error(`unknown kind ${kind}`);
    return k;
  }

  names() { return [...this.byKind.keys()].sort(); }

  // path is a kind's REST path: the collection with name "", across all
  // namespaces with namespace "" too.
  path(kind, namespace, name) {
    const k = typeof kind === "string" ? this.get(kind) : kind;
    let p;
    if (!k.namespaced) p = name ? k.item : k.collection;
    else if (!namespace) p = k.all;
    else p = name ? k.item : k.collection;
    return p.replace("{namespace}", encodeURIComponent(namespace || ""))
      .replace("{name}", encodeURIComponent(name || ""));
  }

  logPath(namespace, name) {
    return `${this.path("Pod", namespace, name)}/${this.logSubresource}`;
  }
}

// Session keeps the token (sessionStorage: this tab only) and sends every
// request with it. A 401 calls onUnauthorized with the error.
export class Session {
  constructor() {
    this.onUnauthorized = () => {};
  }

  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  set token(t) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  headers(extra) {
    const h = new Headers(extra || {});
    if (this.token) h.set("Authorization", `Bearer ${this.token}`);
    return h;
  }

  // request sends one request and returns the Response when it succeeded;
  // it throws an ApiError otherwise.
  async request(method, path, { query, body, contentType, accept, signal } = {}) {
    const url = query ? `${path}?${new URLSearchParams(query)}` : path;
    const headers = { Accept: accept || "application/json" };
    if (contentType) headers["Content-Type"] = contentType;
    let res;
    try {
      res = await fetch(url, { method, body, headers: this.headers(headers), signal, cache: "no-store", credentials: "omit" });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError({ message: `Cannot reach the Skiff API server: ${e.message}` }, 0);
    }
    if (res.ok) return res;
    const err = await errorOf(res);
    if (err.code === 401) this.onUnauthorized(err);
    throw err;
  }

  async json(method, path, opts) {
    const res = await this.request(method, path, opts);
    return res.json();
  }

  async text(method, path, opts) {
    const res = await this.request(method, path, { ...opts, accept: "text/plain" });
    return res.text();
  }

  // list reads a whole collection, page by page: the items and the first
  // page's resourceVersion, from which a watch misses nothing.
  async list(path, signal) {
    const items = [];
    let resourceVersion = "";
    let cont = "";
    do {
      const query = { limit: "500" };
      if (cont) query.continue = cont;
      const page = await this.json("GET", path, { query, signal });
      if (!resourceVersion) resourceVersion = (page.metadata && page.metadata.resourceVersion) || "";
      items.push(...(page.items || []));
      cont = (page.metadata && page.metadata.continue) || "";
    } while (cont);
    return { items, resourceVersion };
  }
}

async function errorOf(res) {
  let status = null;
  try {
    status = await res.json();
  } catch {
    // not a Status body
  }
  if (!status || typeof status !== "object" || status.kind !== "Status") {
    status = { message: `${res.status} ${res.statusText}`.trim(), code: res.status };
  }
  return new ApiError(status, res.status);
}

// Watch keeps one collection current: it lists once, then follows the
// watch stream from the list's resourceVersion as Server-Sent Events.
// EventSource reconnects by itself (sending Last-Event-ID, the last
// resourceVersion it saw) when the stream ends; when the server refuses a
// reconnection, the watch asks why with a plain request: 410 Expired
// lists again, 401 signs out, anything else retries with backoff.
//
// handlers: reset(items) after each list, change(type, obj) for each
// ADDED/MODIFIED/DELETED, state(state, error) with state one of
// "loading", "live", "reconnecting", "error".
export class Watch {
  constructor(session, path, handlers) {
    this.session = session;
    this.path = path;
    this.h = handlers;
    this.rv = "";
    this.es = null;
    this.timer = 0;
    this.abort = null;
    this.backoff = 0;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.relist();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    if (this.es) this.es.close();
    this.es = null;
  }

  async relist() {
    if (this.stopped) return;
    if (this.es) { this.es.close(); this.es = null; }
    this.h.state("loading");
    this.abort = new AbortController();
    try {
      const { items, resourceVersion } = await this.session.list(this.path, this.abort.signal);
      if (this.stopped) return;
      this.rv = resourceVersion;
      this.h.reset(items);
      this.open();
    } catch (e) {
      if (this.stopped || e.name === "AbortError") return;
      this.h.state("error", e);
      if (e.code !== 401) this.retry(() => this.relist());
    }
  }

  open() {
    if (this.stopped) return;
    const q = new URLSearchParams({ watch: "true", sse: "true", allowWatchBookmarks: "true" });
    if (this.rv) q.set("resourceVersion", this.rv);
    // EventSource cannot send headers: the token goes in the query.
    if (this.session.token) q.set("access_token", this.session.token);
    const es = new EventSource(`${this.path}?${q}`);
    this.es = es;
    es.onopen = () => {
      this.backoff = 0;
      this.h.state("live");
    };
    es.onmessage = (m) => {
      if (m.lastEventId) this.rv = m.lastEventId;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      this.event(ev);
    };
    es.onerror = () => {
      if (this.stopped || es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        this.diagnose();
      } else {
        this.h.state("reconnecting"); // the browser reconnects with Last-Event-ID
      }
    };
  }

  event(ev) {
    const obj = ev.object || {};
    switch (ev.type) {
      case "ADDED":
      case "MODIFIED":
      case "DELETED":
        this.h.change(ev.type, obj);
        break;
      case "BOOKMARK":
        break;
      case "ERROR":
        if (obj.code === 410) {
          this.relist();
        } else {
          this.h.state("error", new ApiError(obj, obj.code));
          this.reopenLater();
        }
        break;
    }
  }

  // diagnose finds out why the server refused the stream.
  async diagnose() {
    if (this.es) { this.es.close(); this.es = null; }
    const q = { watch: "true", timeoutSeconds: "1" };
    if (this.rv) q.resourceVersion = this.rv;
    this.abort = new AbortController();
    try {
      await this.session.request("GET", this.path, { query: q, signal: this.abort.signal });
      this.abort.abort(); // the stream would work now: drop it and reconnect
      this.h.state("reconnecting");
      this.reopenLater();
    } catch (e) {
      if (this.stopped) return;
      if (e.name === "AbortError") {
        this.reopenLater();
        return;
      }
      if (e.code === 410) { this.relist(); return; }
      this.h.state("error", e);
      if (e.code !== 401) this.reopenLater();
    }
  }

  reopenLater() {
    if (this.es) { this.es.close(); this.es = null; }
    this.retry(() => this.open());
  }

  retry(fn) {
    clearTimeout(this.timer);
    this.backoff = Math.min(this.backoff ? this.backoff * 2 : 1000, 30000);
    this.timer = setTimeout(() => { if (!this.stopped) fn(); }, this.backoff);
  }
}
