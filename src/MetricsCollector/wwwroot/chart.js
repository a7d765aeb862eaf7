// A device's figures over time as an SVG chart, drawn here so the page needs no chart library or CDN.
// One point per history row on each percentile line (p50, p95, p99), and the row's event count as a bar
// against the right-hand axis.
"use strict";

const HistoryChart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 300, M = { left: 44, right: 52, top: 12, bottom: 30 };
  const SERIES = [
    { key: "p50", field: "p50", color: "var(--p50)" },
    { key: "p95", field: "percentile95", color: "var(--p95)" },
    { key: "p99", field: "p99", color: "var(--p99)" },
  ];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // The next 1, 2 or 5 × 10^k at or above v, so the axis has round labels.
  function niceCeiling(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const s of [1, 2, 5, 10]) if (s * p >= v) return s * p;
    return 10 * p;
  }

  function timeLabel(ms, span) {
    const d = new Date(ms);
    const hm = d.toISOString().substring(11, span < 1800000 ? 19 : 16);
    return span > 86400000 ? d.toISOString().substring(5, 10) + " " + hm : hm;
  }

  // rows: history items as the API serves them (newest first). Returns the <svg>.
  function draw(container, rows) {
    container.replaceChildren();
    const data = rows.map(r => ({ ...r, t: Date.parse(r.windowEnd) })).sort((a, b) => a.t - b.t);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "device history chart" }, container);
    if (data.length === 0) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg).textContent = "no rows";
      return svg;
    }
    const t0 = data[0].t, t1 = data[data.length - 1].t, span = t1 - t0;
    const x = t => span === 0 ? (M.left + W - M.right) / 2 : M.left + (W - M.left - M.right) * (t - t0) / span;
    const yMax = Math.min(100, niceCeiling(Math.max(...data.map(r => r.p99)) * 1.05));
    const y = v => M.top + (H - M.top - M.bottom) * (1 - v / yMax);
    const cMax = niceCeiling(Math.max(...data.map(r => r.count)));
    const yc = c => M.top + (H - M.top - M.bottom) * (1 - c / cMax);

    for (let i = 0; i <= 4; i++) {
      const v = yMax * i / 4, c = cMax * i / 4;
      el("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), stroke: "var(--line)" }, svg);
      el("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11 }, svg).textContent = +v.toFixed(2) + "%";
      el("text", { x: W - M.right + 6, y: yc(c) + 4, "font-size": 11, fill: "var(--muted)" }, svg).textContent = Math.round(c);
    }
    const ticks = Math.min(5, data.length);
    for (let i = 0; i < ticks; i++) {
      const t = ticks === 1 ? t0 : t0 + span * i / (ticks - 1);
      el("text", { x: x(t), y: H - 10, "text-anchor": "middle", "font-size": 11 }, svg).textContent = timeLabel(t, span);
    }

    const bar = Math.max(2, Math.min(14, (W - M.left - M.right) / data.length * 0.6));
    const counts = el("g", { class: "counts" }, svg);
    for (const r of data) {
      const b = el("rect", { x: x(r.t) - bar / 2, y: yc(r.count), width: bar, height: H - M.bottom - yc(r.count), fill: "var(--count)", "data-series": "count" }, counts);
      el("title", {}, b).textContent = `${r.windowStart} – ${r.windowEnd}: ${r.count} events`;
    }

    // p99 first, so the lower lines stay visible where they meet it (a p95 of 100 under a p99 of 100).
    for (const s of [...SERIES].reverse()) {
      const g = el("g", { class: "series-" + s.key }, svg);
      el("polyline", { fill: "none", stroke: s.color, "stroke-width": 2, points: data.map(r => `${x(r.t)},${y(r[s.field])}`).join(" ") }, g);
      for (const r of data) {
        const dot = el("circle", { cx: x(r.t), cy: y(r[s.field]), r: 3, fill: s.color, "data-series": s.key, "data-window-end": r.windowEnd }, g);
        el("title", {}, dot).textContent = `${s.key} ${r[s.field]} (window ending ${r.windowEnd}${r.final ? ", final" : ""})`;
      }
    }
    const legend = document.createElement("div");
    legend.className = "legend muted";
    legend.innerHTML = SERIES.map(s => `<span><i style="background:${s.color}"></i>${s.key}</span>`).join("")
      + `<span><i style="background:var(--count);height:8px"></i>count (right axis)</span>`;
    container.appendChild(legend);
    return svg;
  }

  return { draw };
})();
