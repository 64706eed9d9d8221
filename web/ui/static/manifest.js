// Reading manifests just enough to route them: split a YAML stream into
// documents and find each one's apiVersion, kind, namespace and name. The
// server decodes and validates the documents themselves (strictly, with
// field paths in its errors); this is no YAML parser.

// splitDocuments returns the documents of a YAML (or JSON) stream with the
// line each starts on, skipping empty ones.
export function splitDocuments(text) {
  const docs = [];
  let lines = [];
  let start = 1;
  const flush = () => {
    const body = lines.join("\n");
    if (body.split("\n").some((l) => l.trim() !== "" && !l.trim().startsWith("#"))) {
      docs.push({ text: body + "\n", line: start });
    }
    lines = [];
  };
  text.replace(/\r\n?/g, "\n").split("\n").forEach((line, i) => {
    if (/^---(\s.*)?$/.test(line) || /^\.\.\.\s*$/.test(line)) {
      flush();
      start = i + 2;
      return;
    }
    lines.push(line);
  });
  flush();
  return docs;
}

// header finds a document's apiVersion, kind and metadata name, generateName
// and namespace. It throws an Error with a message for people when the
// document is JSON that does not parse.
export function header(doc) {
  const t = doc.trim();
  if (t.startsWith("{")) {
    let o;
    try {
      o = JSON.parse(t);
    } catch (e) {
      throw new Error(`invalid JSON: ${e.message}`);
    }
    const m = (o && o.metadata) || {};
    return { apiVersion: str(o.apiVersion), kind: str(o.kind), name: str(m.name), generateName: str(m.generateName), namespace: str(m.namespace) };
  }
  const h = { apiVersion: "", kind: "", name: "", generateName: "", namespace: "" };
  let inMeta = false;
  let metaIndent = -1;
  for (const raw of doc.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "");
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      inMeta = false;
      const m = /^([A-Za-z]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, key, value] = m;
      if (key === "apiVersion") h.apiVersion = scalar(value);
      else if (key === "kind") h.kind = scalar(value);
      else if (key === "metadata") {
        if (value.trim().startsWith("{")) Object.assign(h, flowMeta(value));
        else { inMeta = true; metaIndent = -1; }
      }
      continue;
    }
    if (!inMeta) continue;
    if (metaIndent < 0) metaIndent = indent;
    if (indent !== metaIndent) continue;
    const m = /^\s*([A-Za-z]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "name" || m[1] === "namespace" || m[1] === "generateName") h[m[1]] = scalar(m[2]);
  }
  return h;
}

function str(v) { return typeof v === "string" ? v : ""; }

function scalar(v) {
  v = v.trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
  return v;
}

// flowMeta reads metadata written in flow style: {name: web, namespace: a}.
function flowMeta(v) {
  const out = {};
  const inner = v.trim().replace(/^\{/, "").replace(/\}\s*$/, "");
  for (const part of inner.split(",")) {
    const [k, ...rest] = part.split(":");
    const key = (k || "").trim();
    if (key === "name" || key === "namespace" || key === "generateName") out[key] = scalar(rest.join(":"));
  }
  return out;
}
