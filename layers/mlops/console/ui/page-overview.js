// Overview: every endpoint with its versions and split, last-hour metrics per variant, alarms, drift, A/B.
import { api } from './api.js';
import { plot } from './charts.js';
import { badge, bp, dash, h, ms, num, pct, section, table, ver, when } from './dom.js';
import { href } from './nav.js';

const VARIANTS = ['stable', 'canary', 'shadow'];

export function splitBar(dep) {
  const canary = dep.canary_version != null ? dep.canary_weight_bp || 0 : 0;
  const a = h('span', { class: 'stable', title: `stable ${bp(10000 - canary)}` });
  const b = h('span', { class: 'canary', title: `canary ${bp(canary)}` });
  a.style.width = `${(10000 - canary) / 100}%`;
  b.style.width = `${canary / 100}%`;
  return h('div', { class: 'split', role: 'img', 'aria-label': `stable ${bp(10000 - canary)}, canary ${bp(canary)}` }, a, b);
}

export function kofn(history, k, n) {
  const cells = (history || []).map((d) => h('span', { class: d ? 'on' : '', title: d ? 'drifted window' : 'no drift' }));
  return h('span', { class: 'row' }, h('span', { class: 'kofn', 'aria-hidden': 'true' }, cells),
    h('span', { class: 'muted' }, `${(history || []).filter(Boolean).length} of last ${(history || []).length} windows drifted (rule: ${k ?? dash} of ${n ?? dash})`));
}

export function variantsTable(variants) {
  const rows = VARIANTS.filter((v) => variants && variants[v]).map((name) => {
    const m = variants[name];
    const cell = (field, text) => h('td', { class: 'num', 'data-field': `${name}.${field}` }, text);
    return h('tr', null, h('td', null, badge(name, name === 'stable' ? 'info' : 'warn')),
      cell('version', ver(m.version)), cell('invocations', num(m.invocations)), cell('errors', num(m.errors)),
      cell('error_rate', pct(m.error_rate, 2)), cell('latency_p50_ms', ms(m.latency_p50_ms)),
      cell('latency_p99_ms', ms(m.latency_p99_ms)), cell('confidence_mean', num(m.confidence_mean)));
  });
  const heads = ['variant', '#version', '#requests', '#errors', '#error rate', '#p50', '#p99', '#mean confidence'];
  return table(heads, rows, { class: 'variants' });
}

export function latencyChart(metrics, title) {
  const series = [];
  for (const name of VARIANTS) {
    const v = metrics.variants[name];
    if (!v) continue;
    series.push({ key: name, label: `${name} p50`, values: v.latency_p50_ms, dash: [4, 4] });
    series.push({ key: name, label: `${name} p99`, values: v.latency_p99_ms });
  }
  return plot({ title, x: metrics.ts, time: true, xLabel: 'time (UTC)', yLabel: 'latency (ms)', series });
}

function endpointCard(ep, metrics) {
  if (ep.deployed === false) {
    return h('section', { class: 'card', 'data-testid': `endpoint-${ep.endpoint}` },
      h('h2', null, ep.endpoint), h('p', { class: 'muted', 'data-field': 'stable_version' }, 'Nothing deployed yet (mlops deploy stable).'));
  }
  const dep = ep;
  const drift = ep.drift;
  const firing = ep.alarms_firing || [];
  return h('section', { class: 'card', 'data-testid': `endpoint-${ep.endpoint}` },
    h('h2', null, h('a', { href: href(`/endpoint/${ep.endpoint}`) }, ep.endpoint), ' ',
      h('span', { class: 'muted' }, 'serves '), h('a', { href: href(`/model/${ep.model}`) }, ep.model)),
    h('dl', { class: 'facts' },
      h('dt', null, 'stable'), h('dd', { 'data-field': 'stable_version' }, ver(dep.stable_version)),
      h('dt', null, 'canary'), h('dd', { 'data-field': 'canary' },
        dep.canary_version == null ? 'none' : `${ver(dep.canary_version)} at ${bp(dep.canary_weight_bp)}`),
      h('dt', null, 'shadow'), h('dd', { 'data-field': 'shadow' },
        dep.shadow_version == null ? 'none' : `${ver(dep.shadow_version)} at ${pct(dep.shadow_rate)}`),
      h('dt', null, 'split'), h('dd', null, splitBar(dep)),
      h('dt', null, 'last change'), h('dd', null,
        `${dep.last_action || dash} by ${dep.updated_by || dash} at ${when(dep.updated_at)} (generation ${num(dep.generation)})`),
      h('dt', null, 'alarms firing'), h('dd', { 'data-field': 'alarms' }, firing.length
        ? firing.map((a) => [badge(`${a.rule} ${a.severity || ''}`.trim(), 'bad'), ' '])
        : badge('none', 'ok')),
      h('dt', null, 'drift'), h('dd', { 'data-field': 'drift' }, drift
        ? [badge(drift.drifted ? 'drifted' : 'no drift', drift.drifted ? 'bad' : 'ok'), ' ',
          `${ver(drift.version)}: share ${pct(drift.share, 0)} of features; `, kofn(drift.history, drift.k, drift.n)]
        : 'no report yet'),
      h('dt', null, 'A/B'), h('dd', { 'data-field': 'ab' }, ep.ab && ep.ab.running
        ? `${ep.ab.challenger} ${ver(ep.ab.canary_version)} vs stable since ${when(ep.ab.since)}`
        : 'not running')),
    h('h3', null, 'Last hour per variant'),
    variantsTable(ep.variants),
    metrics ? latencyChart(metrics, `${ep.endpoint}: latency, last hour`) : null);
}

export async function overviewPage() {
  const doc = await api('/v1/console/overview');
  const metrics = await Promise.all(doc.endpoints.map((ep) => ep.deployed === false ? null :
    api(`/v1/console/endpoints/${encodeURIComponent(ep.endpoint)}/metrics`, { query: { window: '1h' } })));
  return h('div', null,
    h('h1', null, 'Overview'),
    h('p', { class: 'muted' }, `${doc.endpoints.length} endpoint(s); metrics of the last ${num(doc.window_s / 60)} minutes, as of ${when(doc.generated_at)}.`),
    doc.endpoints.length
      ? h('div', { class: 'grid' }, doc.endpoints.map((ep, i) => endpointCard(ep, metrics[i])))
      : section('No endpoints', 'Add one under mlops:endpoints in the stack settings.'));
}
