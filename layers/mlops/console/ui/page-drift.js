// Drift: per endpoint and model version, the latest verdict and the k-of-n history; one report with its
// features drifted first, each with a histogram and an ECDF of the reference against the window.
import { api } from './api.js';
import { bars, plot } from './charts.js';
import { badge, dash, h, num, pct, section, table, ver, when } from './dom.js';
import { href } from './nav.js';
import { kofn } from './page-overview.js';

const SHOWN = 8; // feature charts drawn before "show all"

function reportLink(s, r) {
  return href('/drift', { endpoint: s.endpoint, model: s.model, version: s.version, stamp: r.stamp });
}

function verdict(d, w) {
  return [badge(d ? 'drifted' : 'no drift', d ? 'bad' : 'ok'), w != null && w !== d ? [' ', badge(`this window: ${w ? 'drifted' : 'not drifted'}`, w ? 'warn' : 'ok')] : null];
}

function seriesCard(s, current) {
  const l = s.latest || {};
  return h('section', { class: 'card', 'data-testid': `drift-${s.endpoint}-${s.model}-${s.version}` },
    h('h2', null, `${s.endpoint}: ${s.model} ${ver(s.version)}`),
    h('dl', { class: 'facts' },
      h('dt', null, 'latest verdict'), h('dd', { 'data-field': 'latest' }, s.latest ? verdict(l.drifted, l.window_drifted) : 'no report yet'),
      h('dt', null, 'drifted features'), h('dd', { 'data-field': 'drifted_features' }, (l.drifted_features || []).join(', ') || 'none'),
      h('dt', null, 'share drifted'), h('dd', null, pct(l.share, 0)),
      h('dt', null, 'window'), h('dd', null, `${num(l.rows)} rows, ${when(l.at)}`),
      h('dt', null, 'k-of-n history'), h('dd', { 'data-field': 'history' }, kofn(s.history, s.k, s.n))),
    h('h3', null, 'Reports (newest first)'),
    table(['report', 'verdict', '#share drifted'], (s.reports || []).map((r) => h('tr', { class: r.stamp === current ? 'selected' : '' },
      h('td', null, h('a', { href: reportLink(s, r) }, when(r.at))), h('td', null, verdict(r.drifted, r.window_drifted)),
      h('td', { class: 'num' }, pct(r.share, 0))))));
}

function featureCharts(f) {
  const p = f.plot;
  if (!p) return h('p', { class: 'muted' }, 'No plot data in this report (written before plots were kept).');
  if (p.kind === 'categorical') {
    return h('div', null, h('h3', null, `${f.name}: ${p.y_label || 'share of rows'} per category`),
      h('p', { class: 'muted' }, 'reference'), bars(p.categories.map((c, i) => ({ name: c, value: p.reference[i] })), { format: (v) => pct(v) }),
      h('p', { class: 'muted' }, 'window'), bars(p.categories.map((c, i) => ({ name: c, value: p.current[i] })), { format: (v) => pct(v) }));
  }
  const last = (a) => [...a, a[a.length - 1]]; // a stepped histogram needs one value per edge
  return h('div', { class: 'charts' },
    plot({
      title: `${f.name}: histogram`, x: p.edges, xLabel: p.x_label || f.name, yLabel: p.y_label_hist || 'share of rows', stepped: true, xValues: true,
      series: [{ key: 'reference', label: 'reference', values: last(p.reference), fill: true }, { key: 'current', label: 'window', values: last(p.current) }],
    }),
    p.ecdf ? plot({
      title: `${f.name}: ECDF`, x: p.ecdf.x, xLabel: p.x_label || f.name, yLabel: p.y_label_ecdf || 'cumulative share', stepped: true, xValues: true, yRange: [0, 1],
      series: [{ key: 'reference', label: 'reference', values: p.ecdf.reference }, { key: 'current', label: 'window', values: p.ecdf.current }],
    }) : null);
}

function reportSection(rep, all) {
  const feats = rep.features || [];
  const shown = all ? feats : feats.slice(0, Math.max(SHOWN, feats.filter((f) => f.drifted).length));
  const rows = feats.map((f) => h('tr', { 'data-feature': f.name },
    h('td', null, f.name), h('td', null, f.drifted ? badge('drifted', 'bad') : badge('no', 'ok')), h('td', null, f.test || dash),
    h('td', { class: 'num' }, num(f.statistic)), h('td', { class: 'num' }, num(f.p_adjusted ?? f.p_value)),
    h('td', { class: 'num' }, num(f.effect_size)), h('td', { class: 'muted' }, typeof f.effect === 'string' ? f.effect : dash),
    h('td', { class: 'num' }, num(f.psi)), h('td', null, (f.reasons || []).join(', ') || dash)));
  const d = rep.dataset || {};
  const per = rep.persistence || {};
  return [
    section(`Report ${when(rep.at)}: ${rep.endpoint}, ${rep.model} ${ver(rep.version)}`,
      h('dl', { class: 'facts' },
        h('dt', null, 'dataset'), h('dd', { 'data-field': 'dataset' }, verdict(d.drifted), ` share ${pct(d.share, 0)} (rule ${d.rule || dash})`),
        h('dt', null, 'persistence'), h('dd', null, verdict(per.drifted), ' ', kofn(per.history, per.k, per.n)),
        h('dt', null, 'window'), h('dd', null, `${num((rep.window || {}).rows ?? (rep.window || {}).n_rows)} rows from ${when((rep.window || {}).start)} to ${when((rep.window || {}).end)}`)),
      h('h3', null, 'Features, drifted first'),
      table(['feature', 'drifted', 'test', '#statistic', '#p (adjusted)', '#effect size', 'measured as', '#PSI', 'why'], rows, { 'data-testid': 'features' })),
    section(`Reference vs window per feature (${shown.length} of ${feats.length})`,
      shown.map((f) => h('div', { 'data-testid': `feature-${f.name}` }, featureCharts(f))),
      shown.length < feats.length ? h('a', { href: href('/drift', { endpoint: rep.endpoint, model: rep.model, version: rep.version, stamp: rep.stamp, all: 1 }) }, `show all ${feats.length} features`) : null),
  ];
}

export async function driftPage(query) {
  const doc = await api('/v1/console/drift');
  const series = doc.series || [];
  let pick = series.find((s) => s.endpoint === query.endpoint && s.model === query.model && String(s.version) === query.version);
  if (!pick) pick = series.find((s) => (s.reports || []).length);
  const stamp = query.stamp || (pick && pick.reports && pick.reports[0] ? pick.reports[0].stamp : null);
  const rep = pick && stamp ? await api('/v1/console/drift/report', { query: { endpoint: pick.endpoint, model: pick.model, version: pick.version, stamp } }) : null;
  return h('div', null, h('h1', null, 'Drift'),
    series.length ? h('div', { class: 'grid' }, series.map((s) => seriesCard(s, s === pick ? stamp : null))) : section('No drift reports yet', 'The drift function writes one per prediction-log window.'),
    rep ? reportSection(rep, query.all === '1') : null);
}
