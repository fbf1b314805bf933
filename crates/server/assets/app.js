// shrike dashboard. Every element is built with textContent or attribute setters, never
// innerHTML: user agents, hosts, paths and JA4s come from attackers and must render as text.
"use strict";

const LEVELS = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NORMAL", "LEGITIMATE_BROWSER", "KNOWN_BOT", "ANUBIS_DENY", "UNSCORED"];
const LEVEL_COLORS = {
  CRITICAL: "#dc2626", HIGH: "#f97316", MEDIUM: "#eab308", LOW: "#84cc16", NORMAL: "#334155",
  LEGITIMATE_BROWSER: "#0e7490", KNOWN_BOT: "#6d28d9", ANUBIS_DENY: "#9f1239", UNSCORED: "#475569",
};
// The seed's sensitivity labels.
const SENSITIVITY_LABELS = [[0.5, "Coarse"], [1.0, "Normal"], [1.5, "Fine"], [2.0, "Very fine"], [3.0, "Maximum"]];

// ---- DOM helpers -------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the CSP, unlike style=""
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const fmt = (n, d = 0) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (x) => fmt(100 * (x || 0), 1) + " %";
const levelBadge = (l) => el("span", { class: "level level-" + (LEVELS.includes(l) ? l : "UNSCORED"), text: l || "–" });
function help(text) { return el("span", { class: "help", "data-tip": text, tabindex: 0, text: "?" }); }
function panel(title, ...body) { return el("section", { class: "panel" }, title ? el("h2", { text: title }) : null, ...body); }
function kpi(label, value, tip, id) {
  return el("div", { class: "panel", "data-kpi": id || label },
    el("div", { class: "kpi-label" }, label, tip ? help(tip) : null),
    el("div", { class: "kpi", "data-value": id || label, text: value }));
}
function table(columns, rows, onRow) {
  const head = el("tr", {}, columns.map((c) => el("th", { text: c[0] })));
  const body = rows.map((r, i) => {
    const tr = el("tr", { class: onRow ? "clickable" : null, "data-row": i },
      columns.map((c) => { const v = c[1](r); return el("td", { class: c[2] || null }, v instanceof Node ? v : (v ?? "")); }));
    if (onRow) tr.addEventListener("click", () => { tr.parentNode.querySelectorAll("tr.selected").forEach((x) => x.classList.remove("selected")); tr.classList.add("selected"); onRow(r); });
    return tr;
  });
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}
function chips(pairs, n = 8) {
  return el("div", { class: "chips" }, (pairs || []).slice(0, n).map((p) => el("span", { text: Array.isArray(p) ? `${p[0]} (${p[1]})` : String(p) })));
}

// ---- API ---------------------------------------------------------------------------------
async function api(path, options) {
  const res = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error((body && body.error) || ("HTTP " + res.status));
  return body;
}
function showError(target, e) { target.replaceChildren(el("p", { class: "error", text: "Error: " + e.message })); }

// ---- Charts (canvas) -----------------------------------------------------------------------
function setupCanvas(canvas, height) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  canvas.width = width * ratio; canvas.height = height * ratio; canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d"); ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}
function stackedBars(canvas, buckets, keys, colors) {
  const { ctx, width, height } = setupCanvas(canvas, 200);
  const totals = buckets.map((b) => keys.reduce((s, k) => s + (b.values[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (width - 40) / Math.max(1, buckets.length);
  ctx.fillStyle = "#94a3b8"; ctx.font = "11px sans-serif"; ctx.fillText(fmt(max), 2, 12);
  buckets.forEach((b, i) => {
    let y = height - 20;
    for (const k of keys) {
      const h = (height - 36) * (b.values[k] || 0) / max;
      ctx.fillStyle = colors[k] || "#64748b"; ctx.fillRect(36 + i * bw, y - h, Math.max(1, bw - 2), h); y -= h;
    }
  });
  if (buckets.length) { ctx.fillStyle = "#94a3b8"; ctx.fillText(buckets[0].label, 36, height - 4); ctx.fillText(buckets[buckets.length - 1].label, Math.max(36, width - 120), height - 4); }
}
function lineChart(canvas, points, color) {
  const { ctx, width, height } = setupCanvas(canvas, 160);
  const max = Math.max(1e-9, ...points.map((p) => p.y));
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach((p, i) => { const x = 36 + (width - 46) * (points.length > 1 ? i / (points.length - 1) : 0.5); const y = height - 18 - (height - 34) * p.y / max; i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.fillStyle = color; points.forEach((p, i) => { const x = 36 + (width - 46) * (points.length > 1 ? i / (points.length - 1) : 0.5); ctx.beginPath(); ctx.arc(x, height - 18 - (height - 34) * p.y / max, 3, 0, 2 * Math.PI); ctx.fill(); });
  ctx.fillStyle = "#94a3b8"; ctx.font = "11px sans-serif"; ctx.fillText(points.length ? fmt(max, 3) : "no data", 2, 12);
}
function radar(canvas, values) {
  const { ctx, width, height } = setupCanvas(canvas, 300);
  const cx = width / 2, cy = height / 2, r = Math.min(cx, cy) - 60, n = values.length;
  ctx.strokeStyle = "#23304d"; ctx.fillStyle = "#94a3b8"; ctx.font = "10px sans-serif";
  for (let ring = 1; ring <= 4; ring++) { ctx.beginPath(); for (let i = 0; i <= n; i++) { const a = -Math.PI / 2 + 2 * Math.PI * i / n; const rr = r * ring / 4; i ? ctx.lineTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a)) : ctx.moveTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a)); } ctx.stroke(); }
  values.forEach((v, i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / n; ctx.fillText(v.feature, cx + (r + 6) * Math.cos(a) - (Math.cos(a) < 0 ? ctx.measureText(v.feature).width : 0), cy + (r + 6) * Math.sin(a)); });
  ctx.beginPath(); values.forEach((v, i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / n; const rr = r * Math.max(0, Math.min(1, v.value)); i ? ctx.lineTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a)) : ctx.moveTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a)); });
  ctx.closePath(); ctx.fillStyle = "rgba(56,189,248,.25)"; ctx.fill(); ctx.strokeStyle = "#38bdf8"; ctx.stroke();
}

// ---- Pages -------------------------------------------------------------------------------
const pages = {};

pages.overview = async (root) => {
  const d = await api("/api/overview");
  if (!d.cycle) { root.append(panel(null, el("p", { text: "No detection cycle yet: run `shrike detect`." }))); return; }
  const k = d.kpis;
  root.append(el("h1", { text: "Overview" }),
    el("div", { class: "grid g4" },
      kpi("Sessions", fmt(k.sessions), "Sessions (hour, address, JA4, host) in the latest cycle's horizon.", "sessions"),
      kpi("Anomalies", fmt(k.anomalies), "Scored sessions below the cycle's threshold.", "anomalies"),
      kpi("Anomaly rate", pct(k.anomaly_rate), "Anomalies per scored session.", "anomaly_rate"),
      kpi("Critical + high", fmt(k.critical + k.high), "Sessions at CRITICAL or HIGH.", "critical_high"),
      kpi("Known bots", fmt(k.known_bots), "Declared crawlers verified by the dictionaries.", "known_bots"),
      kpi("Browsers", fmt(k.browsers), "Sessions recognised as legitimate browsers.", "browsers"),
      kpi("Campaigns", fmt(k.campaigns), "Campaigns seen by the latest cycle.", "campaigns"),
      kpi("Flagged fleets", fmt(k.flagged_fleets), "JA4 × ASN communities flagged as fleets.", "flagged_fleets")));
  const timeline = el("canvas", { id: "timeline" });
  const history = el("canvas", { id: "history" });
  root.append(el("div", { class: "grid g2" },
    panel("Levels over time (sessions per hour)", timeline, el("div", { class: "chips" }, LEVELS.map((l) => el("span", { style: null }, levelBadge(l))))),
    panel("Anomaly rate per cycle", history)));
  const top = (title, rows, id) => panel(title, table([["Value", (r) => r.key || "(none)", "mono"], ["Label", (r) => r.label], ["Anomalies", (r) => fmt(r.anomalies)], ["Sessions", (r) => fmt(r.sessions)]], rows), null);
  root.append(el("div", { class: "grid g3", id: "tops" },
    top("Top ASNs", d.top_asns.map((r) => ({ ...r, key: "AS" + r.key }))), top("Top countries", d.top_countries), top("Top JA4s", d.top_ja4s)));
  requestAnimationFrame(() => {
    stackedBars(timeline, d.timeline.map((t) => ({ label: t.window.slice(5, 16), values: t.levels })), LEVELS, LEVEL_COLORS);
    lineChart(history, d.history.map((h) => ({ y: h.anomaly_rate })), "#f97316");
  });
};

// A JA4 may wrap only between its three parts, never inside one.
function ja4Text(ja4) {
  const parts = String(ja4 || "").split("_");
  return el("span", { title: ja4 }, parts.flatMap((p, i) => i ? [el("wbr"), "_" + p] : [p]));
}
// The headline: one or two findings (or the most unusual features), then what the session
// belongs to; the full reason is in the explanation panel.
function evidence(r) {
  const h = r.headline || { text: r.reason, context: [] };
  return el("span", {}, el("span", { text: h.text }), (h.context || []).map((c) => el("span", { class: "tag", text: c })));
}
function threatColumns() {
  return [["Level", (r) => levelBadge(r.level)], ["Score", (r) => fmt(r.score, 3)], ["Address", (r) => r.src_ip, "mono addr"],
    ["JA4", (r) => ja4Text(r.ja4), "mono ja4"], ["Host", (r) => el("span", { title: r.host, text: r.host }), "mono host"], ["Hits", (r) => fmt(r.hits)], ["Country", (r) => r.country],
    ["Evidence", evidence, "evidence"]];
}

async function explain(target, r) {
  target.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
  const q = new URLSearchParams({ window: r.window_start_ms, ip: r.src_ip, ja4: r.ja4, host: r.host });
  const d = await api("/api/threats/session?" + q);
  const top = Array.isArray(d.top_features) ? d.top_features : [];
  // Each scorer's attributions are on their own scale: one bar scale per scorer.
  const scorers = [["forest", "Isolation forest (path-length importance)"], ["trees", "Boosted trees (TreeSHAP, bot log-odds)"], ["flow", "Normalizing flow (share of −log p)"]];
  const status = el("p", { class: "muted", id: "feedback-status" });
  const note = el("input", { id: "feedback-note", placeholder: "Note (optional)", maxlength: 1000 });
  const send = async (label) => {
    try {
      await api("/api/feedback", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ label, src_ip: d.src_ip, window_start_ms: d.window_start_ms, ja4: d.ja4, host: d.host, note: note.value }) });
      status.textContent = `Saved: ${label}. The supervised model will train on it.`;
    } catch (e) { status.textContent = "Error: " + e.message; }
  };
  const h = d.headline || { text: d.reason, context: [] };
  target.replaceChildren(
    el("h2", { text: "Explanation" }),
    el("div", {}, levelBadge(d.level), " score ", el("b", { text: fmt(d.score, 3) }), " · ", el("span", { class: "mono", id: "detail-ip", text: d.src_ip })),
    el("p", { id: "detail-headline", class: "headline" }, el("span", { text: h.text }), (h.context || []).map((c) => el("span", { class: "tag", text: c }))),
    el("table", {}, el("tbody", {},
      el("tr", {}, el("th", { text: "User agent" }), el("td", { class: "mono", id: "detail-ua", text: d.user_agent })),
      el("tr", {}, el("th", { text: "JA4" }), el("td", { class: "mono", id: "detail-ja4", text: d.ja4 })),
      el("tr", {}, el("th", { text: "Host" }), el("td", { class: "mono", id: "detail-host", text: d.host })),
      el("tr", {}, el("th", { text: "Network" }), el("td", { text: `AS${d.asn} ${d.asn_org} · ${d.country}` })),
      el("tr", {}, el("th", { text: "Campaign / fleet" }), el("td", { text: `${d.campaign_id ?? "–"} / ${d.fleet_id ?? "–"}` })))),
    el("details", { id: "detail-statistics" }, el("summary", { text: "Statistics: the full reason, each scorer and the contributing features" }),
    el("p", { id: "detail-reason", text: d.reason }),
    el("p", { class: "muted", id: "detail-scorers", text: `forest ${fmt(d.forest_score, 3)} · flow ${d.flow_score == null ? "–" : fmt(d.flow_score, 3)} · trees ${d.trees_prob == null ? "–" : fmt(d.trees_prob, 3)} (bot probability)` }),
    top.length ? el("table", { id: "contributions" }, el("tbody", {}, scorers.filter((s) => top.some((t) => (t.scorer || "forest") === s[0])).flatMap(([key, title]) => {
      const rows = top.filter((t) => (t.scorer || "forest") === key);
      const max = Math.max(1e-9, ...rows.map((t) => Math.abs(t.contribution)));
      return [el("tr", {}, el("th", { colspan: 3, text: title })), ...rows.map((t) => el("tr", {},
        el("td", { class: "mono", text: t.feature }), el("td", { text: `${fmt(t.value, 3)} (typical ${fmt(t.typical, 3)})` }),
        el("td", { style: "width:35%", title: fmt(t.contribution, 3) }, el("div", { class: "bar" + (t.contribution < 0 ? " neg" : ""), style: `width:${Math.max(2, Math.round(100 * Math.abs(t.contribution) / max))}%` }))))];
    }))) : el("p", { class: "muted", text: "Not an anomaly: no contributions." })),
    el("h2", { text: "Analyst feedback" }),
    el("div", { class: "slider-row" }, note,
      el("button", { class: "bot", id: "feedback-bot", onclick: () => send("bot"), text: "Bot" }),
      el("button", { class: "human", id: "feedback-human", onclick: () => send("human"), text: "Human" })),
    status,
    (d.feedback || []).length ? table([["When", (f) => f.created_at], ["Label", (f) => f.label], ["By", (f) => f.analyst], ["Note", (f) => f.note]], d.feedback) : el("p", { class: "muted", text: "No label yet for this address." }));
}

pages.threats = async (root) => {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = { level: params.get("level") || "", ip: "", ja4: "", host: "", min_score: "", anomalies: params.get("anomalies") || "true", offset: 0, limit: 50, after: "", trail: [] };
  const results = el("div", { id: "threats-table" });
  const detail = el("section", { class: "panel", id: "explanation" }, el("p", { class: "muted", text: "Select a session to see why it was flagged." }));
  const input = (name, label, attrs) => el("label", {}, label, el("input", Object.assign({ name, value: state[name] }, attrs || {})));
  const form = el("form", { class: "filters", id: "threat-filters" },
    el("label", {}, "Level", el("select", { name: "level" }, el("option", { value: "", text: "All" }), LEVELS.map((l) => el("option", { value: l, text: l, selected: l === state.level })))),
    input("ip", "Address prefix"), input("ja4", "JA4"), input("host", "Host"), input("min_score", "Min score", { type: "number", step: "0.01", min: 0, max: 1 }),
    el("label", {}, "Anomalies only", el("select", { name: "anomalies" }, el("option", { value: "true", text: "yes", selected: state.anomalies === "true" }), el("option", { value: "false", text: "no", selected: state.anomalies !== "true" }))),
    el("button", { type: "submit", text: "Filter" }));
  const load = async () => {
    const q = new URLSearchParams();
    for (const k of ["level", "ip", "ja4", "host", "min_score", "anomalies"]) if (state[k]) q.set(k, state[k]);
    // Pages follow the server's cursor (`next`): a deep page costs what the first does.
    if (state.after) q.set("after", state.after);
    q.set("limit", state.limit);
    try {
      const d = await api("/api/threats?" + q);
      const pager = el("div", { class: "pager" },
        el("button", { disabled: state.offset === 0, onclick: () => { state.after = state.trail.pop() || ""; state.offset = Math.max(0, state.offset - state.limit); load(); }, text: "‹ Previous" }),
        el("span", { id: "threats-total", "data-total": d.total, text: `${fmt(d.total ? state.offset + 1 : 0)}–${fmt(Math.min(d.total, state.offset + state.limit))} of ${fmt(d.total)}` }),
        el("button", { disabled: !d.next || state.offset + state.limit >= d.total, onclick: () => { state.trail.push(state.after); state.after = d.next; state.offset += state.limit; load(); }, text: "Next ›" }));
      results.replaceChildren(table(threatColumns(), d.rows, (r) => explain(detail, r).catch((e) => showError(detail, e))), pager);
    } catch (e) { showError(results, e); }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); const f = new FormData(form); for (const k of ["level", "ip", "ja4", "host", "min_score", "anomalies"]) state[k] = f.get(k) || ""; state.offset = 0; state.after = ""; state.trail = []; load(); });
  root.append(el("h1", { text: "Threats" }), form, el("div", { class: "split wide" }, panel(null, results), detail));
  await load();
};

// ---- Cluster map ---------------------------------------------------------------------------
function sensitivityLabel(v) { let best = SENSITIVITY_LABELS[0][1]; for (const [t, l] of SENSITIVITY_LABELS) if (v >= t) best = l; return best; }

pages.map = async (root) => {
  const sens = el("input", { id: "sensitivity", type: "range", min: 0.5, max: 3, step: 0.25, value: 1 });
  const sensLabel = el("b", { id: "sensitivity-label", text: "Normal" });
  const k = el("input", { id: "map-k", type: "number", min: 4, max: 30, value: 14 });
  const hours = el("input", { id: "map-hours", type: "number", min: 1, max: 168, value: 24 });
  const status = el("span", { class: "muted", id: "map-status" });
  const canvas = el("canvas", { id: "map-canvas" });
  const side = el("section", { class: "panel", id: "map-cluster" }, el("p", { class: "muted", text: "Click a cluster to see its profile and addresses." }));
  const stats = el("div", { class: "grid g4", id: "map-stats" });
  const list = el("div", { id: "map-clusters" });
  root.append(el("h1", { text: "Cluster map" }),
    panel(null, el("div", { class: "slider-row" },
      el("label", {}, el("span", {}, "Sensitivity", help("Multiplies k: 2× with k = 14 gives 28 clusters (clamped to 4..50). Finer settings split traffic into more homogeneous groups.")), sens),
      sensLabel, status,
      el("details", {}, el("summary", { text: "Advanced" }), el("div", { class: "slider-row" }, el("label", {}, "k (4–30)", k), el("label", {}, "Window, hours (1–168)", hours),
        el("button", { id: "map-recompute", onclick: () => run(true), text: "Recompute" }))))),
    stats, el("div", { class: "split" }, panel(null, canvas), side), panel("Clusters", list));
  let data = null, points = null, selected = null, token = 0, layer = null;
  // The points, drawn once per data set and size into an offscreen canvas as raw pixels
  // (2×2 per point): a redraw (selection, hover) then only composites it, which keeps the
  // page responsive at 100k points even without a GPU.
  const pointLayer = (width, height, color) => {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(width * ratio), h = Math.round(height * ratio);
    if (layer && layer.points === points && layer.w === w && layer.h === h) return layer.canvas;
    const off = document.createElement("canvas"); off.width = w; off.height = h;
    const octx = off.getContext("2d"); const img = octx.createImageData(w, h); const px = new Uint32Array(img.data.buffer);
    const rgba = {}; // "#rrggbb" → little-endian ABGR with alpha 0xcc
    for (const [idx, c] of Object.entries(color)) rgba[idx] = (0xcc << 24) | (parseInt(c.slice(5, 7), 16) << 16) | (parseInt(c.slice(3, 5), 16) << 8) | parseInt(c.slice(1, 3), 16);
    const fallback = (0xcc << 24) | 0x8b7464;
    for (let i = 0; i < points.x.length; i++) {
      const x = Math.round((20 + points.x[i] * (width - 40)) * ratio), y = Math.round((height - 20 - points.y[i] * (height - 40)) * ratio);
      const v = rgba[points.cluster[i]] ?? fallback;
      for (let dy = 0; dy < 2; dy++) { const row = (y + dy) * w; if (y + dy < 0 || y + dy >= h) continue; for (let dx = 0; dx < 2; dx++) if (x + dx >= 0 && x + dx < w) px[row + x + dx] = v; }
    }
    octx.putImageData(img, 0, 0);
    layer = { points, w, h, canvas: off };
    return off;
  };
  const draw = () => {
    if (!data) return;
    const t0 = performance.now();
    const { ctx, width, height } = setupCanvas(canvas, 560);
    const px = (x) => 20 + x * (width - 40), py = (y) => height - 20 - y * (height - 40);
    ctx.fillStyle = "#0b1222"; ctx.fillRect(0, 0, width, height);
    const color = {}; data.nodes.forEach((n) => { color[n.cluster_idx] = n.color; });
    for (const n of data.nodes) {
      if (n.hull.length < 3) continue;
      ctx.beginPath(); n.hull.forEach((p, i) => i ? ctx.lineTo(px(p[0]), py(p[1])) : ctx.moveTo(px(p[0]), py(p[1]))); ctx.closePath();
      ctx.fillStyle = n.color + (selected === n.cluster_idx ? "33" : "14"); ctx.fill(); ctx.strokeStyle = n.color + "88"; ctx.stroke();
    }
    if (points) ctx.drawImage(pointLayer(width, height, color), 0, 0, width, height);
    ctx.strokeStyle = "#475569"; ctx.lineWidth = 1;
    const pos = {}; data.nodes.forEach((n) => { pos[n.id] = n; });
    for (const e of data.edges) { const a = pos[e.source], b = pos[e.target]; ctx.globalAlpha = e.similarity; ctx.beginPath(); ctx.moveTo(px(a.pca_x), py(a.pca_y)); ctx.lineTo(px(b.pca_x), py(b.pca_y)); ctx.stroke(); }
    ctx.globalAlpha = 1;
    for (const n of data.nodes) {
      ctx.beginPath(); ctx.arc(px(n.pca_x), py(n.pca_y), n.radius / 2 + 3, 0, 2 * Math.PI); ctx.fillStyle = n.color; ctx.fill();
      ctx.lineWidth = selected === n.cluster_idx ? 3 : 1; ctx.strokeStyle = "#e2e8f0"; ctx.stroke();
    }
    canvas.dataset.drawn = String(points ? points.x.length : 0);
    canvas.dataset.drawMs = (performance.now() - t0).toFixed(1);
  };
  const nearest = (ev) => {
    if (!data) return null; const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left - 20) / (r.width - 40), y = 1 - (ev.clientY - r.top - 20) / (r.height - 40);
    let best = null, bd = Infinity; for (const n of data.nodes) { const d = (n.pca_x - x) ** 2 + (n.pca_y - y) ** 2; if (d < bd) { bd = d; best = n; } }
    return bd < 0.004 ? best : null;
  };
  const tip = document.getElementById("tooltip");
  canvas.addEventListener("mousemove", (ev) => { const n = nearest(ev); if (!n) { tip.hidden = true; return; } tip.replaceChildren(el("b", { text: n.label }), el("div", { text: `${fmt(n.ip_count)} addresses · risk ${fmt(n.risk_score, 2)}` })); tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px"; tip.hidden = false; });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("click", (ev) => { const n = nearest(ev); if (n) showCluster(n); });
  const showCluster = async (n) => {
    selected = n.cluster_idx; draw();
    const rc = el("canvas", { id: "radar" });
    const ips = el("div", { id: "cluster-ips" });
    side.replaceChildren(el("h2", { text: n.label }), el("div", {}, "Risk ", el("b", { text: fmt(n.risk_score, 2) }), ` · ${fmt(n.ip_count)} addresses · ${fmt(n.hit_count)} requests · TTL ${n.mean_ttl} · MSS ${n.mean_mss}`),
      el("div", {}, "Countries: ", chips(n.top_countries)), el("div", {}, "Networks: ", chips(n.top_orgs)), el("div", { class: "mono", text: "UA: " + n.sample_ua }), rc, ips);
    requestAnimationFrame(() => radar(rc, n.radar));
    const page = async (offset) => {
      const d = await api(`/api/map/clusters/${encodeURIComponent(n.id)}/ips?offset=${offset}&limit=50`);
      ips.replaceChildren(table([["Address", (r) => r.ip, "mono"], ["JA4", (r) => r.ja4, "mono"], ["Hits", (r) => fmt(r.hits)], ["Level", (r) => levelBadge(r.threat_level)], ["User agent", (r) => r.ua, "mono"]], d.ips),
        el("div", { class: "pager" }, el("button", { disabled: offset === 0, onclick: () => page(Math.max(0, offset - 50)), text: "‹" }), el("span", { text: `${offset + 1}–${Math.min(d.total, offset + 50)} of ${d.total}` }), el("button", { disabled: offset + 50 >= d.total, onclick: () => page(offset + 50), text: "›" })));
    };
    page(0).catch((e) => showError(ips, e));
  };
  const render = async () => {
    const s = data.stats;
    stats.replaceChildren(kpi("Clusters", fmt(s.total_clusters), "Non-empty k-means clusters (k × sensitivity).", "map_clusters"), kpi("Addresses", fmt(s.total_ips), null, "map_ips"),
      kpi("Bot addresses", fmt(s.bot_ips), "Addresses in clusters of risk above 0.45.", "map_bot_ips"), kpi("Computed in", fmt(s.elapsed_s, 2) + " s", null, "map_elapsed"));
    list.replaceChildren(table([["Cluster", (n) => n.label], ["Risk", (n) => fmt(n.risk_score, 2)], ["Addresses", (n) => fmt(n.ip_count)], ["Requests", (n) => fmt(n.hit_count)], ["Top level", (n) => levelBadge(n.top_threat)], ["Sample", (n) => n.sample_ips.slice(0, 3).join(" "), "mono"]], data.nodes, showCluster));
    points = null; draw();
    const all = { x: [], y: [], cluster: [] };
    for (let offset = 0; ; offset += 100000) {
      const p = await api(`/api/map/points?offset=${offset}&limit=100000`);
      all.x.push(...p.x); all.y.push(...p.y); all.cluster.push(...p.cluster);
      if (offset + 100000 >= p.total) break;
    }
    points = all; draw();
  };
  const run = async (force) => {
    const mine = ++token;
    const q = new URLSearchParams({ k: k.value, hours: hours.value, sensitivity: sens.value });
    if (force) q.set("force", "true");
    status.textContent = "computing…"; canvas.dataset.state = "computing";
    try {
      for (;;) {
        const d = await api("/api/map?" + q);
        q.delete("force");
        if (mine !== token) return;
        if (d.status === "ready") { data = d; status.textContent = `k = ${d.stats.k} (${fmt(d.stats.n_samples)} pairs)`; await render(); canvas.dataset.state = "ready"; canvas.dataset.k = d.stats.k; return; }
        await new Promise((r) => setTimeout(r, 400));
      }
    } catch (e) { status.textContent = "Error: " + e.message; canvas.dataset.state = "error"; }
  };
  sens.addEventListener("input", () => { sensLabel.textContent = sensitivityLabel(Number(sens.value)); });
  sens.addEventListener("change", () => run(false));
  window.addEventListener("resize", draw);
  await run(false);
};

// ---- SOC tactics ---------------------------------------------------------------------------
pages.tactics = async (root) => {
  const d = await api("/api/tactics");
  if (!d.cycle) { root.append(panel(null, el("p", { text: "No detection cycle yet." }))); return; }
  const k = d.kpis;
  const small = (rows) => table([["Address", (r) => r.src_ip, "mono"], ["Level", (r) => levelBadge(r.level)], ["Hits", (r) => fmt(r.hits)], ["Host", (r) => r.host, "mono"]], rows);
  root.append(el("h1", { text: "SOC tactics" }),
    el("div", { class: "grid g4" },
      kpi("Brute force", fmt(k.brute_force_ips), "Addresses whose sessions mostly POST to login, sign-in, auth, session or token paths.", "brute_force_ips"),
      kpi("JA4 rotation", fmt(k.rotating_ips), "Addresses that presented 3 or more TLS fingerprints in the horizon: a client rotating its stack to evade fingerprint blocks.", "rotating_ips"),
      kpi("Recurrence", fmt(k.recurring_sessions), "Anomalous sessions whose address was already flagged by earlier cycles.", "recurring_sessions"),
      kpi("Live alerts", fmt(k.live_alerts), "CRITICAL, HIGH or Anubis-denied sessions active in the cycle's last hour.", "live_alerts")),
    el("div", { class: "grid g2" },
      panel("Brute force (login POST concentration)", small(d.brute_force)),
      panel("JA4 rotation", table([["Address", (r) => r.src_ip, "mono"], ["JA4s", (r) => fmt(r.ja4_count)], ["Level", (r) => levelBadge(r.level)], ["Hits", (r) => fmt(r.hits)]], d.rotation)),
      panel("Recurrence", table([["Address", (r) => r.src_ip, "mono"], ["Times flagged", (r) => fmt(r.recurrence)], ["Level", (r) => levelBadge(r.level)], ["Reason", (r) => r.reason]], d.recurrence)),
      panel("Live alerts", table([["Last seen", (r) => r.last_seen], ["Address", (r) => r.src_ip, "mono"], ["Level", (r) => levelBadge(r.level)], ["User agent", (r) => r.user_agent, "mono"]], d.alerts))));
};

// ---- Fleets and campaigns ------------------------------------------------------------------
pages.fleets = async (root) => {
  const [f, c] = await Promise.all([api("/api/fleets"), api("/api/campaigns")]);
  const detail = el("section", { class: "panel", id: "campaign-detail" }, el("p", { class: "muted", text: "Select a campaign to list its addresses." }));
  const showCampaign = async (row) => {
    const d = await api("/api/campaigns/" + encodeURIComponent(row.campaign_id));
    detail.replaceChildren(el("h2", { text: `Campaign #${d.campaign_id}` }), el("div", { text: `${fmt(d.sessions)} sessions · ${fmt(d.ips)} addresses · seen by ${d.cycles} cycle(s) · ${d.first_seen} → ${d.last_seen}` }),
      el("div", {}, "JA4s: ", chips(d.ja4s)), el("div", {}, "Hosts: ", chips(d.hosts)), el("div", {}, "Features: ", chips((d.features || []).map((x) => Array.isArray(x) ? x[0] : (x.feature || JSON.stringify(x))))),
      table([["Address", (m) => m.src_ip, "mono"], ["Last seen", (m) => m.last_seen]], d.members));
  };
  root.append(el("h1", { text: "Fleets and campaigns" }),
    panel("Campaigns", el("div", { id: "campaigns" }, table([["#", (r) => r.campaign_id], ["Sessions", (r) => fmt(r.sessions)], ["Addresses", (r) => fmt(r.ips)], ["Escalated", (r) => fmt(r.escalated)], ["Cycles", (r) => r.cycles], ["JA4s", (r) => chips(r.ja4s, 2)], ["Countries", (r) => chips(r.countries, 3)]], c.campaigns, (r) => showCampaign(r).catch((e) => showError(detail, e))))),
    detail,
    panel("Fleets (JA4 × ASN communities)", el("div", { id: "fleets" }, table([["#", (r) => r.fleet_id], ["Flagged", (r) => r.flagged ? "yes" : "no"], ["Score", (r) => fmt(r.score, 2)], ["Sessions", (r) => fmt(r.sessions)], ["Addresses", (r) => fmt(r.ips)], ["Prefixes", (r) => fmt(r.prefixes)], ["JA4s", (r) => chips(r.ja4s, 3)], ["ASNs", (r) => chips(r.asns, 3)]], f.fleets))));
};

// ---- Health --------------------------------------------------------------------------------
// The `shrike run` service's own state: files followed and their lag, last cycle, exports,
// dictionary ages. Under `shrike serve` it says that no service runs.
function servicePanel(svc) {
  if (!svc.running) return panel("Service", el("p", { id: "service", class: "muted", text: "Not running as a service (shrike serve): files are ingested by `shrike ingest`, cycles by `shrike detect`." }));
  const ago = (ms) => ms ? fmt((svc.now_ms - ms) / 1000) + " s ago" : "never";
  const bytes = (n) => n >= 1048576 ? fmt(n / 1048576, 1) + " MiB" : n >= 1024 ? fmt(n / 1024, 1) + " KiB" : fmt(n) + " B";
  const c = svc.last_cycle;
  return panel("Service", el("div", { id: "service" },
    el("p", { id: "service-cycle", text: c ? `Last cycle ${c.id ?? "–"} ${ago(c.finished_ms)} (${fmt(c.duration_ms)} ms): ${c.outcome}. A cycle every ${fmt(svc.cycle_every_s)} s.` : `No cycle yet; one every ${fmt(svc.cycle_every_s)} s.` }),
    svc.reload_error ? el("p", { class: "error", text: "Last reload refused: " + svc.reload_error }) : null,
    table([["Followed file", (f) => f.name, "mono"], ["Format", (f) => f.format || "–"], ["Lag", (f) => bytes(f.lag_bytes)], ["Records", (f) => fmt(f.records)], ["Rejected", (f) => fmt(f.rejected)], ["Stored", (f) => ago(f.last_stored_ms)], ["Error", (f) => f.error || ""]], svc.files),
    svc.exports.length ? table([["Export", (e) => e.path, "mono"], ["Format", (e) => e.format], ["Entries", (e) => fmt(e.entries)], ["Written", (e) => ago(e.written_ms)], ["Error", (e) => e.error || ""]], svc.exports) : null,
    svc.dictionaries.length ? table([["Dictionary", (d) => d.file, "mono"], ["Age", (d) => fmt((svc.now_ms - d.modified_ms) / 86400000, 1) + " days"]], svc.dictionaries) : null));
}

pages.health = async (root) => {
  const [h, dec, svc] = await Promise.all([api("/api/health"), api("/api/decisions?limit=100"), api("/api/service")]);
  const rate = el("canvas", { id: "rate-chart" }), lat = el("canvas", { id: "latency-chart" });
  // "total" spans the other stages: the stacks show the stages, the total is the height.
  const stages = [...new Set(h.cycles.flatMap((c) => (c.stage_ms || []).map((s) => s[0])))].filter((s) => s !== "total");
  const palette = ["#38bdf8", "#f97316", "#22c55e", "#eab308", "#a78bfa", "#f43f5e", "#14b8a6", "#64748b", "#e879f9", "#84cc16"];
  const stageColors = Object.fromEntries(stages.map((s, i) => [s, palette[i % palette.length]]));
  const drift = [];
  for (const [model, report] of Object.entries(h.drift_features || {})) for (const f of (report.features || [])) drift.push({ model, ...f });
  drift.sort((a, b) => b.ks - a.ks);
  root.append(el("h1", { text: "Health" }), servicePanel(svc),
    el("div", { class: "grid g2" },
      panel("Anomaly rate per cycle", rate),
      panel("Stage latency per cycle (ms)", lat, el("div", { class: "chips" }, stages.map((s) => el("span", { style: `border-left: 10px solid ${stageColors[s]}`, text: s }))))),
    panel("Models", el("div", { id: "models" }, table([["Feature set", (m) => m.model], ["Version", (m) => m.version, "mono"], ["Trained", (m) => m.trained_at], ["Features", (m) => m.meta ? `${(m.meta.features || []).length} (${(m.meta.pruned || []).length} pruned)` : "–"], ["Baseline", (m) => m.meta ? `${fmt(m.meta.train_size)} train / ${fmt(m.meta.val_size)} validation` : "–"], ["Validation anomaly rate", (m) => m.meta ? pct(m.meta.val_anomaly_rate) : "–"], ["Train", (m) => m.meta ? fmt(m.meta.train_ms) + " ms" : "–"]], h.models))),
    panel("Score combination (latest cycle)", el("div", { id: "ensemble" }, Object.keys(h.ensemble || {}).length ? table([["Feature set", (e) => e.set], ["Mode", (e) => e.mode === "meta" ? "meta-learner" : "fixed weights"], ["Forest", (e) => fmt(e.forest, 3)], ["Flow", (e) => e.with_flow ? fmt(e.flow, 3) : "–"], ["Trees", (e) => e.trees_version ? fmt(e.trees, 3) : "–"], ["Bias", (e) => fmt(e.bias, 3)], ["Labels", (e) => fmt(e.labels)], ["Trees version", (e) => e.trees_version || "–", "mono"]], Object.entries(h.ensemble).map(([set, e]) => ({ set, ...e }))) : el("p", { class: "muted", text: "No scored cycle yet." }))),
    panel("Drift per feature (latest cycle)", el("div", { id: "drift" }, drift.length ? table([["Model", (d) => d.model], ["Feature", (d) => d.feature, "mono"], ["KS", (d) => fmt(d.ks, 3)], ["KL", (d) => fmt(d.kl, 3)], ["Direction", (d) => d.direction > 0 ? "up" : d.direction < 0 ? "down" : "–"], ["Drifting", (d) => d.drifting ? "yes" : "no"]], drift.slice(0, 40)) : el("p", { class: "muted", text: "No drift report yet: a reused model is checked for drift." }))),
    panel("Decisions log", el("div", { id: "decisions", "data-total": dec.total }, table([["Cycle", (d) => d.cycle_id], ["At", (d) => d.at], ["Kind", (d) => d.kind], ["Model", (d) => d.model], ["Payload", (d) => JSON.stringify(d.payload).slice(0, 200), "mono"]], dec.rows))));
  requestAnimationFrame(() => {
    lineChart(rate, h.cycles.map((c) => ({ y: c.anomaly_rate })), "#f97316");
    stackedBars(lat, h.cycles.map((c) => ({ label: "#" + c.id, values: Object.fromEntries(c.stage_ms || []) })), stages, stageColors);
  });
};

// ---- Exports -------------------------------------------------------------------------------
pages.exports = async (root) => {
  const formats = ["json", "csv", "nginx", "nginx-map", "haproxy", "ipset", "crowdsec", "anubis"];
  const form = el("form", { class: "filters", id: "export-form" },
    el("label", {}, "Format", el("select", { name: "format" }, formats.map((f) => el("option", { value: f, text: f })))),
    el("label", {}, "Lowest level", el("select", { name: "min_level" }, ["LOW", "MEDIUM", "HIGH", "CRITICAL"].map((l) => el("option", { value: l, text: l, selected: l === "MEDIUM" })))),
    el("label", {}, "Min score", el("input", { name: "min_score", type: "number", step: "0.01", min: 0, max: 1, value: 0 })),
    el("label", {}, "Campaign", el("input", { name: "campaign", type: "number", min: 0 })),
    el("button", { type: "submit", text: "Preview" }));
  const out = el("div", { id: "export-result" });
  const load = async () => {
    const q = new URLSearchParams(); for (const [k, v] of new FormData(form)) if (v !== "") q.set(k, v);
    try {
      const d = await api("/api/exports?" + q);
      const link = el("a", { href: "/api/exports?" + q + "&download=true", id: "export-download", text: "Download" });
      out.replaceChildren(el("p", { id: "export-summary", text: `Cycle ${d.cycle}: ${d.candidates} candidate sessions; ${d.addresses_total} addresses/prefixes and ${d.ja4s_total} JA4s would be blocked; ${d.held_back_total} held back.` }), link,
        el("div", { class: "grid g2" },
          panel("Would block (shadow view)", table([["Kind", (e) => e.kind], ["Value", (e) => e.value, "mono"], ["Level", (e) => levelBadge(e.level)], ["Score", (e) => fmt(e.score, 3)], ["Sessions", (e) => fmt(e.sessions)]], d.addresses.concat(d.ja4s).slice(0, 300))),
          panel("Held back", table([["Address", (h) => h.ip, "mono"], ["Why", (h) => h.why]], d.held_back.slice(0, 300)))),
        panel(d.text_truncated ? `File (the first ${fmt(d.text.length)} of ${fmt(d.text_bytes)} bytes: Download has it whole)` : "File", el("pre", { id: "export-text", text: d.text })));
    } catch (e) { showError(out, e); }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  root.append(el("h1", { text: "Exports" }), form, out);
  await load();
};

// ---- Router --------------------------------------------------------------------------------
async function route() {
  const name = (location.hash.replace(/^#\//, "").split("?")[0]) || "overview";
  const page = pages[name] ? name : "overview";
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  const root = document.getElementById("page");
  root.replaceChildren(); root.dataset.page = page; root.dataset.ready = "false";
  try { await pages[page](root); } catch (e) { showError(root, e); }
  root.dataset.ready = "true";
}
document.addEventListener("mouseover", (ev) => {
  const t = ev.target.closest && ev.target.closest("[data-tip]"); const tip = document.getElementById("tooltip");
  if (!t || !tip) return; tip.textContent = t.dataset.tip; const r = t.getBoundingClientRect();
  tip.style.left = r.left + "px"; tip.style.top = r.bottom + 6 + "px"; tip.hidden = false;
  t.addEventListener("mouseleave", () => { tip.hidden = true; }, { once: true });
});
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  api("/api/overview").then((d) => { if (d.cycle) document.getElementById("cycle").textContent = `cycle ${d.cycle.id} · ${d.cycle.started_at}`; }).catch(() => {});
  route();
});
