// Small DOM helpers: elements built from data (never from HTML strings, so
// nothing an object carries can inject markup), tables kept in place row by
// row, errors shown next to the form that caused them.

// h builds an element: h("a", {href: "#/x", class: "c"}, "text", child).
// Props: class, text, on<Event> handlers, anything else as an attribute
// (false/null/undefined leave it out).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// cellContent turns a column's value into nodes: a string, or
// {text, href, badge, meter: {value, max, label}}.
function cellContent(v) {
  if (v === null || v === undefined) return [""];
  if (typeof v !== "object") return [String(v)];
  const out = [];
  if (v.href) out.push(h("a", { href: v.href }, v.text));
  else if (v.badge) out.push(h("span", { class: `badge ${v.badge}` }, v.text));
  else if (v.text !== undefined) out.push(h("span", {}, v.text));
  if (v.meter) {
    out.push(h("meter", { min: 0, max: Math.max(v.meter.max, 1), value: v.meter.value, "aria-label": v.meter.label }));
  }
  return v.meter ? [h("span", { class: "rollout" }, out)] : out;
}

// syncRows keeps a table's body equal to items, in order, changing only
// the cells whose value changed: rows and the links in them survive
// updates, so keyboard focus is not lost while the data moves.
// columns: [{label, value(obj) -> string | {text, href, badge, meter}}];
// the first column is the row header.
export function syncRows(table, items, key, columns) {
  const tbody = table.tBodies[0];
  const rows = new Map([...tbody.rows].map((r) => [r.dataset.key, r]));
  const keep = new Set();
  items.forEach((obj, i) => {
    const k = key(obj);
    keep.add(k);
    let tr = rows.get(k);
    if (!tr) {
      tr = h("tr", { "data-key": k });
      columns.forEach((c, ci) => {
        const cell = ci === 0 ? h("th", { scope: "row" }) : h("td");
        cell.dataset.label = c.label;
        tr.append(cell);
      });
    }
    columns.forEach((c, ci) => {
      const v = c.value(obj);
      const sig = JSON.stringify(v === undefined ? "" : v);
      const cell = tr.cells[ci];
      if (cell.dataset.sig !== sig) {
        cell.dataset.sig = sig;
        cell.replaceChildren(...cellContent(v));
      }
    });
    if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
  });
  for (const [k, tr] of rows) if (!keep.has(k)) tr.remove();
  setEmpty(table.id, items.length === 0);
}

// setEmpty shows the "nothing here" note of a table or list.
export function setEmpty(id, empty) {
  for (const p of document.querySelectorAll(`[data-empty-for="${id}"]`)) p.hidden = !empty;
}

// showError writes an API error into a form's error region: the Status
// message and one line per cause ("field: message").
export function showError(region, err, prefix) {
  if (!err) {
    region.replaceChildren();
    return;
  }
  const msg = err.message || String(err);
  const kids = [h("p", {}, prefix ? `${prefix}: ${msg}` : msg)];
  const causes = (err.causes || []).filter((c) => c.field || c.message);
  if (causes.length) {
    kids.push(h("ul", {}, causes.map((c) => h("li", {}, c.field ? h("code", {}, c.field) : null, c.field ? ": " : "", c.message || c.reason || ""))));
  }
  region.replaceChildren(...kids);
}

// age is a duration like kubectl's AGE column: 45s, 12m, 5h, 3d.
export function age(ts, now) {
  if (!ts) return "";
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function clock(d) {
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
