// The live page: the latest window's top-N, a device's history as a chart and the node's status strip,
// read from the public API and /status, refreshed every few seconds.
"use strict";

const REFRESH_MS = 5000;
const $ = id => document.getElementById(id);
let selectedDevice = null;

function fmt(v) { return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : "–"; }

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const why = body && (body.detail || body.title);
    throw new Error(`${path} answered ${response.status}${why ? ": " + why : ""}`);
  }
  return body;
}

async function refreshTop() {
  const n = $("top-n").value, by = $("by").value;
  const query = by === "p95" ? "" : `?by=${encodeURIComponent(by)}`;
  const tbody = $("top").tBodies[0];
  try {
    const rows = await getJson(`/metrics/top/${n}${query}`);
    tbody.replaceChildren();
    rows.forEach((r, i) => {
      const tr = document.createElement("tr");
      tr.dataset.device = r.deviceId;
      cell(tr, i + 1);
      cell(tr, r.deviceId);
      for (const f of ["p50", "p90", "percentile95", "p99", "max", "mean", "count"]) cell(tr, fmt(r[f]));
      cell(tr, r.final ? "yes" : "no");
      tr.addEventListener("click", () => selectDevice(r.deviceId));
      tbody.appendChild(tr);
    });
    $("top-window").textContent = rows.length ? `window ${windowText(rows[0])}` : "";
    $("top-message").textContent = rows.length ? "" : "No window has fired on every partition yet.";
    const list = $("devices");
    const known = new Set([...list.options].map(o => o.value));
    for (const r of rows) if (!known.has(r.deviceId)) list.appendChild(new Option(r.deviceId));
  } catch (e) {
    $("top-message").textContent = e.message;
  }
}

async function refreshDevice() {
  if (!selectedDevice) return;
  const device = selectedDevice;
  try {
    const page = await getJson(`/metrics/devices/${encodeURIComponent(device)}/history?limit=1000`);
    if (device !== selectedDevice) return;
    const rows = page.items;
    const latest = rows[0];
    $("device-summary").textContent = latest
      ? `${device}: ${rows.length} windows${page.nextCursor ? " (the latest 1000)" : ""}; latest ${windowText(latest)}: `
        + `p50 ${fmt(latest.p50)}, p95 ${fmt(latest.percentile95)}, p99 ${fmt(latest.p99)}, count ${latest.count}`
      : `${device}: no rows`;
    HistoryChart.draw($("chart"), rows);
  } catch (e) {
    $("device-summary").textContent = e.message;
    $("chart").replaceChildren();
  }
}

// "2025-11-28 05:00:00 – 05:30:00 UTC": the API's ISO times, shortened for a heading.
function windowText(row) {
  const start = row.windowStart.replace("T", " ").substring(0, 19), end = row.windowEnd.substring(11, 19);
  return `${start} – ${end} UTC`;
}

function ago(iso) {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

async function refreshStatus() {
  const strip = $("status");
  try {
    const status = await getJson("/status");
    const parts = [];
    parts.push(`<span class="badge ${status.ready ? "ok" : "bad"}" id="ready">${status.ready ? "ready" : "not ready"}</span>`);
    if (!status.ready && status.notReady.length) parts.push(`<span>${escapeHtml(status.notReady.join("; "))}</span>`);
    parts.push(`<span>members: ${status.members.map(m =>
      `<span class="chip${m.status === "Up" && m.reachable ? "" : " down"}" title="${escapeHtml(m.roles.join(", "))}">${escapeHtml(m.address)} ${escapeHtml(m.status)}${m.reachable ? "" : " unreachable"}${m.leader ? " ★" : ""}${m.self ? " (this node)" : ""}</span>`).join("")}</span>`);
    parts.push(`<span>partitions of this node: ${status.partitions.length ? status.partitions.map(p =>
      `<span class="chip" data-partition="${p.partition}" title="watermark ${escapeHtml(p.watermark || "none yet")}, committed offset ${p.committed ?? "none"}${p.logEnd != null ? ", log end " + p.logEnd : ""}">`
      + `${p.partition}: ${p.watermark ? "watermark " + ago(p.watermark) : "no watermark"}${p.committed != null ? ", offset " + p.committed : ""}${p.lag != null ? ", lag " + p.lag : ""}</span>`).join("") : "none"}</span>`);
    strip.innerHTML = parts.join("");
  } catch (e) {
    strip.innerHTML = `<span class="badge bad">unreachable</span> <span>${escapeHtml(e.message)}</span>`;
  }
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The chosen device goes into the address (#device=...), so a link or a reload shows it again.
function selectDevice(device) {
  selectedDevice = device.trim();
  $("device").value = selectedDevice;
  history.replaceState(null, "", selectedDevice ? "#device=" + encodeURIComponent(selectedDevice) : "#");
  if (selectedDevice) refreshDevice();
}

async function refreshAll() {
  await Promise.all([refreshTop(), refreshStatus(), refreshDevice()]);
  $("updated").textContent = new Date().toLocaleTimeString();
}

$("search").addEventListener("submit", e => { e.preventDefault(); selectDevice($("device").value); });
$("top-n").addEventListener("change", refreshTop);
$("by").addEventListener("change", refreshTop);
$("every").textContent = REFRESH_MS / 1000;
const linked = new URLSearchParams(location.hash.substring(1)).get("device");
if (linked) $("device").value = selectedDevice = linked;
refreshAll();
setInterval(refreshAll, REFRESH_MS);
