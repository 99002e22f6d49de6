// Drawing an insight result: line, area, bar, stacked bar, big number (with the change against the
// previous period), table, funnel bars and the retention heatmap. Chart.js is the vendored UMD build
// (window.Chart). Clicking a point, a bar, a funnel step or a retention cell calls `onDrill` (the people
// behind it).
import { fmt, h, shortLabel, rangeText, state } from "./api.js";
import { drawSankey, pathsTable } from "./sankey.js";

export const PALETTE = ["#4f46e5", "#0f766e", "#b45309", "#be123c", "#0369a1", "#7c3aed", "#15803d", "#c2410c"];
// A display picked in the builder → the widget's `viz` (the API's) and `options.display`.
export const VIZ_OF = { line: "line", area: "line", bar: "bar", stacked: "bar", number: "big_number",
  table: "line", funnel: "funnel", retention: "retention_table", sankey: "sankey" };
export function displayOf(widget) {
  const options = widget.options || {};
  if (options.display && VIZ_OF[options.display]) return options.display;
  // a widget made before displays existed: its bars of several series were stacked
  return { line: "line", bar: "stacked", big_number: "number", funnel: "funnel", retention_table: "retention", sankey: "sankey" }[widget.viz] || "line";
}

const first = (...values) => values.find((v) => v !== undefined && v !== null);
export function seriesOf(data, withPrevious = false) {
  const list = (data && data.series) || [];
  return list.filter((s) => !(s.meta && s.meta.trend) && (withPrevious || s.compare !== "previous")).map((s, i) => ({
    label: String(first(s.label, `Series ${i + 1}`)) + (s.compare === "previous" ? " (previous)" : ""),
    labels: (s.points || []).map((p) => p.label),
    buckets: (s.points || []).map((p) => p.bucket || p.label),
    values: (s.points || []).map((p) => (p.value === null ? 0 : p.value)),
    total: s.total, previous: s.compare === "previous", breakdown: s.breakdown_value, index: i, raw: s,
  }));
}
export function bigNumberOf(data) {
  if (!data) return null;
  const series = seriesOf(data);
  if (series.length && typeof series[0].total === "number") return series[0].total;
  if (data.totals && typeof data.totals === "object") {
    const value = Object.values(data.totals).find((v) => typeof v === "number");
    if (value !== undefined) return value;
  }
  return series.length ? series[0].values.reduce((a, b) => a + (Number(b) || 0), 0) : null;
}
function previousOf(data) {
  const previous = ((data && data.series) || []).find((s) => s.compare === "previous");
  if (!previous) return null;
  return typeof previous.total === "number" ? previous.total
    : (previous.points || []).reduce((a, p) => a + (Number(p.value) || 0), 0);
}
export function funnelOf(data) {
  const group = data && Array.isArray(data.funnel) && data.funnel.length ? data.funnel[0] : null;
  const steps = group ? group.steps : [];
  const counts = steps.map((s) => Number(s.count || 0));
  return {
    labels: steps.map((s, i) => String(first(s.label, s.event, `Step ${i + 1}`))), counts,
    rates: steps.map((s, i) => (s.conversion_from_first !== undefined ? s.conversion_from_first * 100
      : (counts[0] ? (counts[i] / counts[0]) * 100 : 0))),
  };
}
function retentionOf(data) {
  return ((data && data.retention) || []).map((r) => ({ label: String(first(r.label, r.date, "")), date: r.date,
    size: Number(r.size || 0), counts: r.values || [], pct: r.percentages || [], breakdown: r.breakdown_value || null }));
}
// A retention cell → the drill-down hit: the cohort's people (period 0) or those back in period n.
const cellHit = (row, period) => ({ kind: "cell", cohort: row.date, period, breakdown: row.breakdown, label: row.label });

// The last bucket is partial when the range ends inside it (today, this week): drawn dashed.
const SPAN = { hour: 3.6e6, day: 8.64e7, week: 6.048e8, month: 2.6e9, quarter: 7.8e9 };
export function partialIndex(data, series) {
  if (!data || !data.date_to || !data.interval || !series.length) return -1;
  const last = series[0].buckets.length - 1;
  if (last < 0) return -1;
  const start = Date.parse(series[0].buckets[last]);
  const end = Date.parse(data.date_to);
  if (Number.isNaN(start) || Number.isNaN(end)) return -1;
  return end - start < (SPAN[data.interval] || SPAN.day) - 6e4 ? last : -1;
}

const baseOptions = () => ({
  responsive: true, maintainAspectRatio: false, animation: { duration: 200 },
  interaction: { mode: "index", intersect: false },
  plugins: { legend: { display: false, labels: { boxWidth: 10, usePointStyle: true, color: "#374151" } },
    tooltip: { callbacks: {} } },
  scales: { x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12, color: "#4b5563" } },
    y: { beginAtZero: true, grid: { color: "#eef1f6" }, ticks: { color: "#4b5563", precision: 0 } } },
});

function canvasIn(body, label) {
  const canvas = h("canvas", { role: "img", "aria-label": label });
  body.append(canvas);
  return canvas;
}
export function empty(body, text = "No data in this range") {
  body.replaceChildren(h("div", { class: "empty" }, text));
  return null;
}

// Annotations (docs/annotations.md): a trend answer's `annotations` carry the bucket each falls in;
// drawn as a dashed vertical line (a shaded band for a range) with the note's first words on top.
export function annotationMarks(data, buckets) {
  return ((data && data.annotations) || []).map((m) => ({ ...m, at: buckets.indexOf(m.bucket),
    to: m.bucket_to ? buckets.indexOf(m.bucket_to) : -1 })).filter((m) => m.at >= 0);
}
function annotationPlugin(marks) {
  return { id: "annotations", afterDatasetsDraw(chart) {
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    for (const mark of marks) {
      const x = scales.x.getPixelForValue(mark.at);
      if (mark.to > mark.at) {
        ctx.fillStyle = "rgba(180, 83, 9, 0.08)";
        ctx.fillRect(x, chartArea.top, scales.x.getPixelForValue(mark.to) - x, chartArea.bottom - chartArea.top);
      }
      ctx.strokeStyle = "#b45309";
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(x, chartArea.top); ctx.lineTo(x, chartArea.bottom); ctx.stroke();
      ctx.fillStyle = "#92400e";
      const text = mark.content.length > 24 ? `${mark.content.slice(0, 23)}…` : mark.content;
      ctx.fillText(text, Math.min(x + 3, chartArea.right - ctx.measureText(text).width), chartArea.top + 2);
    }
    ctx.restore();
  } };
}

function drawSeries(item, body, display, onDrill) {
  const all = seriesOf(item.data, true);
  const series = all.filter((s) => !s.previous);
  if (!series.length || !series[0].values.length) return empty(body);
  const partial = partialIndex(item.data, series);
  const type = display === "area" ? "line" : display === "stacked" ? "bar" : display;
  const options = baseOptions();
  options.plugins.legend.display = all.length > 1;
  const dash = (ctx) => (partial >= 0 && ctx.p1DataIndex === partial ? [6, 4] : undefined);
  const datasets = all.map((s, i) => {
    const color = s.previous ? "#9ca3af" : PALETTE[i % PALETTE.length];
    return {
      label: s.label, data: s.values.map(Number), borderColor: color,
      backgroundColor: type === "line" ? `${color}22` : (s.previous ? "#d1d5db" : color),
      borderWidth: 2, pointRadius: s.values.length > 40 ? 0 : 2, tension: 0.3,
      fill: display === "area" ? (all.length > 1 ? "stack" : "origin") : false,
      stack: display === "area" || display === "stacked" ? "all" : undefined,
      borderDash: s.previous ? [3, 3] : undefined, segment: s.previous ? undefined : { borderDash: dash },
      borderRadius: type === "bar" ? 4 : 0, maxBarThickness: 48,
    };
  });
  if (type === "bar" && partial >= 0) {
    for (const dataset of datasets) {
      const base = dataset.backgroundColor;
      dataset.backgroundColor = dataset.data.map((_, i) => (i === partial ? `${base}66` : base));
    }
  }
  let labels = series[0].labels.length ? series[0].labels : series[0].values.map((_, i) => i + 1);
  if (type === "bar" && display !== "stacked" && series.every((s) => s.values.length === 1)) {
    labels = series.map((s) => s.label);
    datasets.splice(0, datasets.length, { label: item.title, data: series.map((s) => Number(s.values[0])),
      backgroundColor: series.map((_, i) => PALETTE[i % PALETTE.length]), borderRadius: 4, maxBarThickness: 56 });
    options.plugins.legend.display = false;
  } else if (display === "stacked" || display === "area") {
    options.scales.x.stacked = true;
    options.scales.y.stacked = true;
  }
  if (partial >= 0) options.plugins.tooltip.callbacks.footer = (items) => (items[0] && items[0].dataIndex === partial ? "Partial period (still counting)" : "");
  const one = datasets.length === 1 && labels.length === series.length && series.every((s) => s.values.length === 1);
  // the drill-down hit of a mark (dataset d, index i): a point of a series, not of the previous period
  const hitOf = (d, i) => {
    const s = one ? series[i] : all[d];
    return !s || s.previous ? null : { kind: "point", series: s, index: one ? 0 : i };
  };
  options.onClick = (event, elements, chart) => {
    const hits = chart.getElementsAtEventForMode(event, "nearest", { intersect: false }, true);
    if (!hits.length || !onDrill) return;
    const hit = hitOf(hits[0].datasetIndex, hits[0].index);
    if (hit) onDrill(hit);
  };
  const marks = labels === series[0].labels ? annotationMarks(item.data, series[0].buckets) : [];
  const notes = marks.length ? `; annotations: ${marks.map((m) => `${m.bucket} ${m.content}`).join("; ")}` : "";
  const chart = new Chart(canvasIn(body, `${item.title}: ${display} chart${notes}`), { type, options,
    data: { labels: labels.map(shortLabel), datasets }, plugins: marks.length ? [annotationPlugin(marks)] : [] });
  chart.partialIndex = partial;
  chart.annotationMarks = marks;
  keyboardMarks(chart, body, "points", (d, i) => {
    const hit = hitOf(d, i);
    if (!hit) return null;
    const value = chart.data.datasets[d].data[i];
    return `${one ? hit.series.label : `${hit.series.label}, ${chart.data.labels[i]}`}: ${fmt(value)}${!one && i === partial ? " (partial period, still counting)" : ""}`;
  }, onDrill && ((d, i) => { const hit = hitOf(d, i); if (hit) onDrill(hit); }));
  return chart;
}

// A chart's marks by keyboard (the canvas is one tab stop): ←/→ (Home/End) go through the marks of
// a series, ↑/↓ through the series; the mark shows its tooltip and is read out (a live region), and
// Enter or Space opens the people behind it (`open`). `describe(d, i)` is null for marks to skip
// (e.g. the previous period's).
function keyboardMarks(chart, body, what, describe, open) {
  const canvas = chart.canvas;
  const live = h("p", { class: "sr-only", "aria-live": "polite" });
  body.append(live);
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "application");
  canvas.setAttribute("aria-roledescription", "chart");
  canvas.setAttribute("aria-label", `${canvas.getAttribute("aria-label")}. Arrow keys go through its ${what}${open ? "; Enter shows the people behind one" : ""}.`);
  let at = null;
  const length = (d) => chart.data.datasets[d].data.length;
  const show = () => {
    const element = chart.getDatasetMeta(at.d).data[at.i];
    const active = [{ datasetIndex: at.d, index: at.i }];
    chart.setActiveElements(active);
    if (chart.tooltip) chart.tooltip.setActiveElements(active, element ? { x: element.x, y: element.y } : { x: 0, y: 0 });
    chart.update("none");
    live.textContent = describe(at.d, at.i) || "";
    canvas.dataset.mark = `${at.d}:${at.i}`;
  };
  canvas.addEventListener("keydown", (event) => {
    const sets = chart.data.datasets.map((_, d) => d).filter((d) => length(d) && describe(d, 0) !== null);
    if (!sets.length) return;
    const keys = ["ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown", "Home", "End", "Enter", " "];
    if (!keys.includes(event.key)) return;
    event.preventDefault();
    if (!at || !sets.includes(at.d)) {
      at = { d: sets[0], i: event.key === "ArrowLeft" || event.key === "End" ? length(sets[0]) - 1 : 0 };
      return show();
    }
    if (event.key === "Enter" || event.key === " ") { if (open) open(at.d, at.i); return; }
    const s = sets.indexOf(at.d);
    if (event.key === "ArrowRight") at.i = Math.min(length(at.d) - 1, at.i + 1);
    if (event.key === "ArrowLeft") at.i = Math.max(0, at.i - 1);
    if (event.key === "Home") at.i = 0;
    if (event.key === "End") at.i = length(at.d) - 1;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      at.d = sets[Math.max(0, Math.min(sets.length - 1, s + (event.key === "ArrowDown" ? 1 : -1)))];
      at.i = Math.min(at.i, length(at.d) - 1);
    }
    show();
  });
  canvas.addEventListener("blur", () => {
    chart.setActiveElements([]);
    if (chart.tooltip) chart.tooltip.setActiveElements([], { x: 0, y: 0 });
    chart.update("none");
  });
}

function drawFunnel(item, body, onDrill) {
  const funnel = funnelOf(item.data);
  if (!funnel.counts.length) return empty(body);
  const options = baseOptions();
  options.indexAxis = "y";
  options.interaction = { mode: "index", axis: "y", intersect: false };
  options.scales = { x: { beginAtZero: true, grid: { color: "#eef1f6" }, ticks: { color: "#4b5563" } },
    y: { grid: { display: false }, ticks: { color: "#1c2333", font: { weight: "600" } } } };
  options.plugins.tooltip.callbacks.label = (ctx) => `${fmt(ctx.raw)} (${fmt(funnel.rates[ctx.dataIndex])}% of first step)`;
  options.onClick = (event, elements) => { if (elements.length && onDrill) onDrill({ kind: "step", step: elements[0].index + 1 }); };
  const chart = new Chart(canvasIn(body, `${item.title}: funnel`), { type: "bar", options, data: {
    labels: funnel.labels.map((l, i) => `${l} · ${fmt(funnel.rates[i])}%`),
    datasets: [{ label: item.title, data: funnel.counts, borderRadius: 4, maxBarThickness: 34,
      backgroundColor: funnel.counts.map((_, i) => `rgba(79, 70, 229, ${Math.max(0.35, 1 - i * 0.18)})`) }] } });
  keyboardMarks(chart, body, "steps",
    (d, i) => `Step ${i + 1}, ${funnel.labels[i]}: ${fmt(funnel.counts[i])} people (${fmt(funnel.rates[i])}% of the first step)`,
    onDrill && ((d, i) => onDrill({ kind: "step", step: i + 1 })));
  return chart;
}

function drawRetention(item, body, onDrill) {
  const rows = retentionOf(item.data);
  if (!rows.length) return empty(body);
  const periods = Math.max(...rows.map((r) => r.counts.length));
  const head = h("tr", {}, h("th", { scope: "col" }, "Cohort"), h("th", { scope: "col" }, "Users"),
    Array.from({ length: periods }, (_, i) => h("th", { scope: "col" }, `${i}`)));
  const tbody = h("tbody");
  for (const row of rows) {
    const tr = h("tr", {}, h("th", { scope: "row", class: "cohort" }, shortLabel(row.label)), h("td", { class: "size" }, fmt(row.size)));
    for (let i = 0; i < periods; i++) {
      const td = h("td");
      if (i < row.counts.length && (row.counts[i] === null || row.counts[i] === undefined)) {
        td.className = "future";
        td.title = "not reached yet";
      } else if (i < row.counts.length) {
        const pct = Number(row.pct[i] || 0);
        td.textContent = `${pct.toFixed(1)}%`;
        td.title = `${fmt(row.counts[i])} users`;
        td.dataset.count = row.counts[i];
        if (onDrill && row.counts[i]) { // a button: the people of this cell, by mouse or keyboard
          td.replaceChildren(h("button", { type: "button", class: "cell", "aria-label": `People: cohort ${shortLabel(row.label)}, period ${i}: ${fmt(row.counts[i])} users`,
            onclick: () => onDrill(cellHit(row, i)) }, td.textContent));
        }
        // two ramps so that the text keeps a 4.5:1 contrast: light cells dark text, dark cells white
        td.style.background = pct <= 50 ? `rgba(79, 70, 229, ${(0.06 + (pct / 50) * 0.39).toFixed(3)})`
          : `rgba(49, 46, 129, ${(0.75 + ((Math.min(pct, 100) - 50) / 50) * 0.2).toFixed(3)})`;
        td.style.color = pct > 50 ? "#fff" : "#1c2333";
      }
      tr.append(td);
    }
    tbody.append(tr);
  }
  body.append(h("div", { class: "retention", tabindex: 0, "aria-label": `${item.title}: retention table` },
    h("table", {}, h("thead", {}, head), tbody)));
  return null;
}

function drawBigNumber(item, body, meta) {
  const value = bigNumberOf(item.data);
  const format = meta && meta.format;
  const shown = Math.abs(value) >= 1000 ? Math.round(value) : value;
  const valueElement = h("div", { class: "value", dataset: { value } }, fmt(shown, format === "currency" ? "number" : format));
  const previous = previousOf(item.data);
  let change = null;
  if (previous !== null && value !== null) {
    const pct = previous ? ((value - previous) / previous) * 100 : null;
    const direction = value > previous ? "up" : value < previous ? "down" : "flat";
    change = h("div", { class: `change ${direction}`, dataset: { previous } },
      `${direction === "up" ? "▲" : direction === "down" ? "▼" : "■"} ${pct === null ? "new" : `${fmt(Math.abs(pct))}%`} vs previous period (${fmt(previous)})`);
  }
  const range = (state.dashboard && state.dashboard.filters && state.dashboard.filters.date_from) || (item.data && item.data.date_from ? null : null);
  body.append(h("div", { class: "big-number" }, valueElement, change,
    h("div", { class: "sub" }, [meta && meta.unit, rangeText(range)].filter(Boolean).join(" · "))));
  return null;
}

// The result as rows and columns (every kind), for the table view and the "Table" display.
export function tableOf(data) {
  if (data && Array.isArray(data.nodes)) { // paths: a row per link, its people a button (`hits`)
    const paths = pathsTable(data);
    return { columns: paths.columns, rows: paths.rows.map((r) => r.cells), hits: paths.rows.map((r) => r.hit) };
  }
  if (data && Array.isArray(data.funnel)) {
    const rows = [];
    for (const group of data.funnel) for (const s of group.steps) {
      rows.push([(group.breakdown_value || []).join(", ") || "all", s.step, s.label, s.count,
        `${(s.conversion_from_first * 100).toFixed(1)}%`, `${(s.conversion_from_previous * 100).toFixed(1)}%`, s.dropped]);
    }
    return { columns: ["Breakdown", "Step", "Event", "People", "From first", "From previous", "Dropped"], rows };
  }
  if (data && Array.isArray(data.retention)) {
    const periods = Math.max(0, ...data.retention.map((r) => r.values.length));
    return { columns: ["Cohort", "Users", ...Array.from({ length: periods }, (_, i) => `Period ${i}`)],
      rows: data.retention.map((r) => [r.label, r.size, ...r.values.map((v) => (v === null ? "" : v))]) };
  }
  const series = seriesOf(data, true);
  if (!series.length) return { columns: [], rows: [] };
  const rows = series[0].labels.map((label, i) => [label, ...series.map((s) => s.values[i])]);
  rows.push(["Total", ...series.map((s) => (typeof s.total === "number" ? s.total : s.values.reduce((a, b) => a + Number(b || 0), 0)))]);
  return { columns: ["Period", ...series.map((s) => s.label)], rows };
}
// With `onDrill`, each count of a trend and each funnel step is a button: the people behind it, by keyboard.
export function drawTable(data, body, caption, onDrill) {
  const { columns, rows, hits } = tableOf(data);
  if (!rows.length) return empty(body);
  const series = data && !data.funnel && !data.retention ? seriesOf(data, true) : [];
  const cell = (value, r, c) => {
    const text = typeof value === "number" ? fmt(value) : String(value ?? "");
    if (!onDrill || r >= rows.length - (series.length ? 1 : 0)) return text;
    if (series.length && series[c - 1] && !series[c - 1].previous) {
      return h("button", { type: "button", class: "link", "aria-label": `People: ${series[c - 1].label}, ${rows[r][0]}`,
        onclick: () => onDrill({ kind: "point", series: series[c - 1], index: r }) }, text);
    }
    if (data.retention && c >= 1 && typeof value === "number" && value > 0) { // Users = period 0, then Period n
      const row = retentionOf(data)[r];
      const period = Math.max(0, c - 2);
      return h("button", { type: "button", class: "link", "aria-label": `People: cohort ${row.label}, period ${period}`,
        onclick: () => onDrill(cellHit(row, period)) }, text);
    }
    if (hits && c === 3) {
      return h("button", { type: "button", class: "link", "aria-label": `People: step ${rows[r][0]}, ${rows[r][1]} to ${rows[r][2]}`,
        onclick: () => onDrill(hits[r]) }, text);
    }
    if (data.funnel && c === 3) {
      return h("button", { type: "button", class: "link", "aria-label": `People: step ${rows[r][1]}`,
        onclick: () => onDrill({ kind: "step", step: rows[r][1] }) }, text);
    }
    return text;
  };
  const table = h("table", { class: "data-table" }, h("caption", { class: "sr-only" }, caption || "Result"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r, ri) => h("tr", {}, r.map((v, i) => (i === 0 ? h("th", { scope: "row" }, String(v)) : h("td", {}, cell(v, ri, i))))))));
  body.append(h("div", { class: "table-wrap", tabindex: 0 }, table));
  return null;
}

// Draw `item` ({title, viz, data, options}) into `body`; returns the Chart.js chart, if any.
export function draw(item, body, { display, meta, onDrill } = {}) {
  body.replaceChildren();
  const shown = display || displayOf(item);
  if (shown === "table") return drawTable(item.data, body, item.title, onDrill);
  if (shown === "funnel") return drawFunnel(item, body, onDrill);
  if (shown === "retention") return drawRetention(item, body, onDrill);
  if (shown === "sankey") return drawSankey(item, body, onDrill);
  if (shown === "number") return drawBigNumber(item, body, meta);
  return drawSeries(item, body, shown, onDrill);
}
