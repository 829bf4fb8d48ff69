// The streamer's live page. Every POLL_MS it fetches /progress (the last
// batches' StreamingQueryProgress reports, one per query and batch) and
// /rows (each query's latest output rows), draws each chart on its <canvas>
// for the query chosen in #query-name and fills the tables.
// No library and no CDN: the page must work offline.
//
// For tests and screenshots: after a draw with data, every chart's canvas
// carries data-points (how many values it drew) and the body data-ready.
"use strict";

const POLL_MS = 2000;
const TABLE_ROWS = 20;
const COLORS = ["#2e6fdb", "#e8590c", "#12b886"];

// A series reads one number per batch from a progress report (null: none).
const SERIES = {
  inputRowsPerSecond: { label: "input", value: p => p.inputRowsPerSecond },
  processedRowsPerSecond: { label: "processed", value: p => p.processedRowsPerSecond },
  triggerExecution: { label: "triggerExecution", value: p => p.durationMs.triggerExecution },
  addBatch: { label: "addBatch", value: p => p.durationMs.addBatch },
  watermarkDelay: { label: "seconds", value: p => p.watermarkDelay },
  numRowsTotal: { label: "rows", value: p => stateOp(p).numRowsTotal },
  late: { label: "late", value: p => stateOp(p).numRowsDroppedByWatermark },
  dlq: { label: "dead-lettered", value: p => p.numInvalidRows || 0 },
};

function stateOp(p) {
  return (p.stateOperators && p.stateOperators[0]) || {};
}

// withWatermarkDelay adds to each report how far its watermark trails the
// largest event time seen up to that batch (null before the first watermark).
function withWatermarkDelay(reports) {
  let maxSeen = null;
  return reports.map(p => {
    const et = p.eventTime || {};
    if (et.max) maxSeen = Math.max(maxSeen ?? -Infinity, Date.parse(et.max));
    const wm = et.watermark ? Date.parse(et.watermark) : 0;
    const delay = wm > 0 && maxSeen !== null ? (maxSeen - wm) / 1000 : null;
    return { ...p, watermarkDelay: delay };
  });
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// decimals is how many fraction digits print v exactly (up to 2).
function decimals(v) {
  for (let d = 0; d < 2; d++) if (Math.abs(v * 10 ** d - Math.round(v * 10 ** d)) < 1e-9) return d;
  return 2;
}

function clock(iso) {
  return iso ? iso.slice(11, 19) : "–";
}

// drawChart draws one line per series over the batches' ids and returns
// how many values it drew.
function drawChart(canvas, reports) {
  const names = canvas.dataset.series.split(" ");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";

  const lines = names.map(n => reports.map(p => {
    const v = SERIES[n].value(p);
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }));
  const all = lines.flat().filter(v => v !== null);
  const top = niceMax(Math.max(0, ...all));
  const pad = { l: 56, r: 10, t: 18, b: 18 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const x = i => pad.l + (reports.length < 2 ? pw / 2 : (i * pw) / (reports.length - 1));
  const y = v => pad.t + ph - (v / top) * ph;

  // Grid and axes.
  g.strokeStyle = "#e4e7ec";
  g.fillStyle = "#667085";
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    g.beginPath();
    g.moveTo(pad.l, y(v));
    g.lineTo(w - pad.r, y(v));
    g.stroke();
    g.fillText(fmt(v, decimals(v)), pad.l - 6, y(v));
  }
  if (reports.length > 0) {
    g.textBaseline = "top";
    g.textAlign = "left";
    g.fillText("batch " + reports[0].batchId, pad.l, h - pad.b + 4);
    g.textAlign = "right";
    g.fillText("batch " + reports[reports.length - 1].batchId, w - pad.r, h - pad.b + 4);
  }

  // Lines, with a dot where a value stands alone.
  lines.forEach((vals, s) => {
    g.strokeStyle = g.fillStyle = COLORS[s % COLORS.length];
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    vals.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      if (pen) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
      const alone = (i === 0 || vals[i - 1] === null) && (i === vals.length - 1 || vals[i + 1] === null);
      if (alone) g.fillRect(x(i) - 2, y(v) - 2, 4, 4);
      pen = true;
    });
    g.stroke();
  });

  // Legend.
  g.textBaseline = "top";
  g.textAlign = "left";
  let lx = pad.l;
  names.forEach((n, s) => {
    g.fillStyle = COLORS[s % COLORS.length];
    g.fillRect(lx, 3, 10, 10);
    g.fillStyle = "#1d2330";
    const label = SERIES[n].label;
    g.fillText(label, lx + 14, 2);
    lx += 24 + g.measureText(label).width;
  });
  return all.length;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map(cells => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
}

function renderBatches(reports) {
  const recent = reports.slice(-TABLE_ROWS).reverse();
  fillTable("batches", recent.map(p => [
    cell(p.batchId),
    cell(clock(p.timestamp)),
    cell(fmt(p.numInputRows)),
    cell(fmt(p.inputRowsPerSecond, 1)),
    cell(fmt(p.processedRowsPerSecond, 1)),
    cell(fmt(p.durationMs.triggerExecution)),
    cell(clock((p.eventTime || {}).watermark)),
    cell(fmt(stateOp(p).numRowsDroppedByWatermark)),
    cell(fmt(p.numInvalidRows || 0)),
    cell(fmt(p.sink.numOutputRows)),
    cell(fmt(stateOp(p).numRowsTotal)),
  ]));
}

// renderRows shows the selected query's latest output rows (/rows: the
// rows of its last batch with output), one column per output column.
function renderRows(all, name) {
  const q = all.find(r => r.query === name);
  const head = document.querySelector("#rows thead tr");
  const cols = q ? q.columns : [];
  if ([...head.children].map(th => th.textContent).join("\n") !== cols.join("\n")) {
    head.replaceChildren(...cols.map(c => {
      const th = document.createElement("th");
      th.textContent = c;
      return th;
    }));
  }
  const caption = document.getElementById("rows-caption");
  caption.textContent = !q ? "no output yet" :
    q.sink + " sink, " + q.mode + " mode, batch " + q.batchId + ": " + fmt(q.numRows) + " row" +
    (q.numRows === 1 ? "" : "s") + (q.truncated ? " (the first " + q.rows.length + " shown)" : "");
  fillTable("rows", (q ? q.rows : []).map(r => cols.map(c => {
    const v = r[c];
    if (v === undefined) return cell("null", "null");
    return cell(typeof v === "number" && !Number.isInteger(v) ? fmt(v, 2) : String(v));
  })));
}

function renderSummary(reports) {
  const last = reports[reports.length - 1];
  document.getElementById("query-id").textContent = last.id;
  document.getElementById("run-id").textContent = last.runId;
  document.getElementById("last-batch").textContent = last.batchId;
  document.getElementById("watermark").textContent = (last.eventTime || {}).watermark || "–";
  document.getElementById("updated").textContent = new Date().toISOString().slice(11, 19) + " UTC";
}

// ofSelectedQuery keeps the reports of the query chosen in #query-name
// (a streamer running a query file reports each of its queries every
// batch); the list offers every query the reports name.
function ofSelectedQuery(reports) {
  const select = document.getElementById("query-name");
  const names = [...new Set(reports.map(p => p.name))];
  const have = [...select.options].map(o => o.value);
  if (names.join("\n") !== have.join("\n")) {
    const keep = select.value;
    select.replaceChildren(...names.map(n => new Option(n, n)));
    select.value = names.includes(keep) ? keep : names[0];
  }
  return reports.filter(p => p.name === select.value);
}

// renderGroup shows a replica's view of its query (/group): every
// partition, whether this replica runs it, its newest commit. A streamer
// without --group answers 404 and the section stays hidden.
function renderGroup(g) {
  const section = document.getElementById("group");
  if (!g) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const own = g.partitions.filter(p => p.owned).length;
  const rows = g.partitions.reduce((n, p) => n + p.numInputRows, 0);
  document.getElementById("group-caption").textContent = "group " + g.group + ", topic " + g.topic + ": " +
    g.partitions.length + " partitions, " + own + " run here; " + fmt(rows) + " input rows in their last batches; query watermark " +
    (g.watermarkMs > 0 ? new Date(g.watermarkMs).toISOString().slice(11, 19) : "–") +
    (g.repartitionedRecords > 0 ? "; " + fmt(g.repartitionedRecords) + " records re-keyed by this replica" : "");
  fillTable("partitions", g.partitions.map(p => [
    cell(p.partition),
    cell(p.owned ? "this replica" : "another replica"),
    cell(p.batchId < 0 ? "–" : p.batchId),
    cell(p.batchId < 0 ? "–" : clock(p.committedAt)),
    cell(fmt(p.numInputRows)),
    cell(p.watermarkMs > 0 ? new Date(p.watermarkMs).toISOString().slice(11, 19) : "–"),
    cell(p.idle ? "idle" : "reading"),
  ]));
}

async function fetchGroup() {
  const r = await fetch("/group", { cache: "no-store" });
  return r.ok ? r.json() : null;
}

document.getElementById("query-name").addEventListener("change", refresh);

async function fetchJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function refresh() {
  try {
    const [reports, rows, group] = await Promise.all([fetchJSON("/progress?n=100"), fetchJSON("/rows"), fetchGroup()]);
    renderGroup(group);
    if (reports.length === 0) return;
    const rs = withWatermarkDelay(ofSelectedQuery(reports));
    for (const c of document.querySelectorAll("canvas[data-series]")) {
      c.dataset.points = drawChart(c, rs);
    }
    renderBatches(rs);
    renderRows(rows, document.getElementById("query-name").value);
    renderSummary(rs);
    document.body.dataset.ready = "true";
    window.__ready = true;
  } catch (err) {
    document.getElementById("updated").textContent = "error: " + err.message;
  }
}

refresh();
setInterval(refresh, POLL_MS);
