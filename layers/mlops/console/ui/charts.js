// Charts with the vendored uPlot (vendor/uPlot.iife.min.js, a classic script that defines window.uPlot).
// A page builds its DOM with plot(...) placeholders; drawCharts() draws them once they are in the page
// (uPlot needs the width they were given by the layout).

import { h } from './dom.js';

export const COLORS = {
  stable: '#2563eb', canary: '#d97706', shadow: '#7c3aed',
  reference: '#64748b', current: '#dc2626', effect: '#0f766e',
};
const FALLBACK = ['#2563eb', '#d97706', '#7c3aed', '#0f766e', '#be185d'];
let pending = [];

export function plot(opts) {
  const el = h('div', { class: 'chart', 'data-chart': opts.title || '' });
  pending.push([el, opts]);
  return el;
}

export function drawCharts() {
  const todo = pending;
  pending = [];
  for (const [el, opts] of todo) {
    if (el.isConnected) draw(el, opts);
  }
}

export function discardCharts() {
  pending = [];
}

function utc(ts) {
  return window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
}

const pad = (n) => String(n).padStart(2, '0');

// UTC, 24-hour: HH:MM within two days, MM-DD beyond (uPlot's default is the browser's zone, 12-hour)
function timeLabels(u, splits) {
  const span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
  return splits.map((ts) => {
    const d = new Date(ts * 1e3);
    return span > 2 * 86400 ? `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` : `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  });
}

function draw(el, o) {
  const uPlot = window.uPlot;
  const width = Math.max(260, Math.floor(el.clientWidth || el.parentElement.clientWidth || 400));
  const series = [{ label: o.xLabel }];
  o.series.forEach((s, i) => {
    const color = s.color || COLORS[s.key] || FALLBACK[i % FALLBACK.length];
    const known = (s.values || []).filter((v) => v != null).length;
    // sparse series (a few busy minutes in a window) are drawn as dots too, or a lone bucket would not show
    const spec = { label: s.label, stroke: color, width: s.width || 2, points: { show: !o.stepped && known < 30, size: 6, fill: color }, spanGaps: false };
    if (s.fill) spec.fill = `${color}33`;
    if (s.dash) spec.dash = s.dash;
    if (o.stepped) spec.paths = uPlot.paths.stepped({ align: 1 });
    if (o.xValues) spec.value = (u, v) => (v == null ? '\u2013' : Number(v.toPrecision(3)));
    series.push(spec);
  });
  const xAxis = { label: o.xLabel, labelSize: 20, size: 36, stroke: '#334155', grid: { stroke: '#e2e8f0' } };
  xAxis.values = o.time ? timeLabels : (u, splits) => splits.map((v) => Number(v.toPrecision(3)));
  const opts = {
    title: o.title,
    width,
    height: o.height || 200,
    tzDate: utc,
    scales: { x: { time: !!o.time }, y: o.yRange ? { range: o.yRange } : {} },
    axes: [xAxis, { label: o.yLabel, labelSize: 20, size: 56, stroke: '#334155', grid: { stroke: '#e2e8f0' } }],
    series,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  if (o.bands) opts.bands = o.bands;
  const data = [o.x, ...o.series.map((s) => s.values)];
  return new uPlot(opts, data, el);
}

// A horizontal bar list drawn with plain elements (feature importances, categorical shares).
export function bars(rows, { valueLabel = 'value', format = (v) => String(v) } = {}) {
  const max = Math.max(...rows.map((r) => Math.abs(r.value)), 1e-12);
  return h('div', { class: 'bars', role: 'table', 'aria-label': valueLabel },
    rows.map((r) => {
      const fill = h('span', { class: 'bar-fill' });
      fill.style.width = `${(100 * Math.abs(r.value)) / max}%`;
      return h('div', { class: 'bar-row', role: 'row' },
        h('span', { class: 'bar-name', role: 'cell' }, r.name),
        h('span', { class: 'bar-track', role: 'cell' }, fill),
        h('span', { class: 'bar-value', role: 'cell' }, format(r.value)));
    }));
}
