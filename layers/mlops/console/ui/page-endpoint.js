// Endpoint: deployment now and its actions (deploy scope, with a confirmation step), metrics per variant,
// the A/B analysis with its always-valid interval over time, the deployment timeline from the audit log.
import { api, ApiError } from './api.js';
import { plot } from './charts.js';
import { badge, bp, dash, h, ms, num, pct, section, table, ver, when } from './dom.js';
import { go, href } from './nav.js';
import { splitBar } from './page-overview.js';

const WINDOWS = ['1h', '1d', '30d'];
const VARIANTS = ['stable', 'canary', 'shadow'];
let flash = null; // the outcome of the last action, shown once after the page reloads its data

function metricCharts(endpoint, m) {
  const chart = (title, yLabel, field, yRange) => plot({
    title, x: m.ts, time: true, xLabel: 'time (UTC)', yLabel, yRange,
    series: VARIANTS.filter((v) => m.variants[v]).map((v) => ({ key: v, label: `${v} ${ver(m.variants[v].version)}`, values: m.variants[v][field] })),
  });
  return h('div', { class: 'charts' },
    chart('p99 latency', 'latency (ms)', 'latency_p99_ms'),
    chart('p50 latency', 'latency (ms)', 'latency_p50_ms'),
    chart('requests per bucket', `requests per ${num(m.step_s)} s`, 'invocations'),
    chart('error rate', 'errors / requests', 'error_rate', [0, 1]),
    chart('mean confidence', 'mean top-class prob.', 'confidence_mean', [0, 1]));
}

function abSection(ab) {
  if (!ab) return section('A/B analysis', h('p', { class: 'muted', 'data-field': 'ab' }, 'No canary or shadow is running: nothing to compare.'));
  const r = ab.report || {};
  const c = r.comparison || {};
  const pts = ab.interval_over_time || [];
  const kind = { promote: 'ok', rollback: 'bad' }[r.decision] || 'warn';
  const variants = (r.variants || []).map((v) => h('tr', null,
    h('td', null, v.variant), h('td', null, (v.versions || []).map((x) => ver(x)).join(', ') || dash),
    h('td', { class: 'num' }, num(v.predictions)), h('td', { class: 'num' }, num(v.labelled)),
    h('td', { class: 'num' }, pct(v.coverage, 0)), h('td', { class: 'num' }, num(v.outcome_rate)),
    h('td', { class: 'num' }, pct(v.error_rate, 2)), h('td', { class: 'num' }, ms(v.latency_p99_ms)),
    h('td', { class: 'num' }, num(v.principals))));
  return section('A/B analysis',
    h('p', null, badge(r.decision || dash, kind), ' ', h('span', { 'data-field': 'ab-reason' }, r.reason || '')),
    h('dl', { class: 'facts' },
      h('dt', null, 'challenger'), h('dd', null, `${r.challenger || dash} at ${bp(r.weight_bp)}`),
      h('dt', null, 'outcome'), h('dd', null, `${r.outcome || dash} (${r.higher_is_better === false ? 'lower' : 'higher'} is better), alpha ${num(r.alpha)}`),
      h('dt', null, 'effect'), h('dd', null, c.effect == null ? 'not estimated yet (too few labelled outcomes)'
        : `${num(c.effect)} (always-valid interval ${num(c.ci_low)} to ${num(c.ci_high)})`),
      h('dt', null, 'sample ratio'), h('dd', null, r.srm && r.srm.mismatch ? badge('mismatch', 'bad') : badge('ok', 'ok'))),
    table(['variant', 'versions', '#predictions', '#labelled', '#coverage', '#outcome rate', '#error rate', '#p99', '#callers'], variants),
    (r.warnings || []).length ? h('ul', null, r.warnings.map((w) => h('li', { class: 'muted' }, w))) : null,
    pts.length > 1 ? plot({
      title: 'challenger - stable effect with its always-valid interval', x: pts.map((p) => p.until_ts), time: true,
      xLabel: 'analysis cut at (UTC)', yLabel: `effect on ${r.outcome || 'outcome'}`,
      series: [
        { key: 'effect', label: 'effect', values: pts.map((p) => p.effect) },
        { key: 'reference', label: 'interval high', values: pts.map((p) => p.ci_high), dash: [3, 3], width: 1 },
        { key: 'reference', label: 'interval low', values: pts.map((p) => p.ci_low), dash: [3, 3], width: 1 },
      ],
      bands: [{ series: [2, 3], fill: 'rgba(15,118,110,0.12)' }],
    }) : h('p', { class: 'muted' }, 'The interval over time needs at least two analysis points.'));
}

function timelineTable(timeline) {
  const state = (s) => (s ? `stable ${ver(s.stable_version)}${s.canary_version != null ? `, canary ${ver(s.canary_version)} at ${bp(s.canary_weight_bp)}` : ''}${s.shadow_version != null ? `, shadow ${ver(s.shadow_version)}` : ''}` : dash);
  return table(['##', 'when', 'action', 'who', 'why', 'after'], timeline.map((t) => h('tr', { 'data-seq': t.seq },
    h('td', { class: 'num' }, t.seq), h('td', { class: 'nowrap' }, when(t.ts)), h('td', null, t.action.replace(/^deployment\./, '')),
    h('td', { 'data-field': 'actor' }, t.actor), h('td', null, t.reason || dash), h('td', null, state(t.state)))), { 'data-testid': 'timeline' });
}

function servedTable(served) {
  return table(['from', 'to', 'stable', 'canary', 'shadow'], served.map((s) => h('tr', null,
    h('td', { class: 'nowrap' }, when(s.from)), h('td', null, s.to ? when(s.to) : 'now'), h('td', null, ver(s.stable_version)),
    h('td', null, s.canary_version == null ? dash : `${ver(s.canary_version)} at ${bp(s.canary_weight_bp)}`),
    h('td', null, ver(s.shadow_version)))));
}

function actionError(err) {
  if (err instanceof ApiError && err.status === 403) return 'Not changed: your key lacks the deploy scope (mlops:deploy).';
  if (err instanceof ApiError && err.status === 409) return `Not changed: someone changed the deployment meanwhile (${err.message}). Reload and try again.`;
  return `Not changed: ${err.message}${err.requestId ? ` (request ${err.requestId})` : ''}`;
}

function actionsPanel(endpoint, dep) {
  const out = h('div', { 'data-testid': 'action-result', role: 'status' });
  const confirmBox = h('div');
  const reason = h('input', { id: 'action-reason', type: 'text', size: 50, placeholder: 'why (kept in the audit log)' });
  const weight = h('input', { id: 'canary-weight', type: 'number', min: 0, max: 100, step: 0.01, value: (dep.canary_weight_bp || 0) / 100 });
  const hasCanary = dep.canary_version != null;

  function ask(text, body, danger) {
    out.replaceChildren();
    const confirm = h('button', { type: 'button', class: danger ? 'danger' : 'primary', 'data-testid': 'confirm' }, 'Confirm');
    const cancel = h('button', { type: 'button' }, 'Cancel');
    cancel.addEventListener('click', () => confirmBox.replaceChildren());
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      const why = reason.value.trim() || `from the console: ${text}`;
      try {
        const rec = await api(`/v1/endpoints/${encodeURIComponent(endpoint)}/deployment`, {
          method: 'POST', body: { ...body, reason: why, expected_generation: dep.generation },
        });
        flash = { ok: true, text: `Done: ${text}. Deployment generation ${rec.generation}.` };
        go(`/endpoint/${endpoint}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) { go(`/endpoint/${endpoint}`); return; }
        confirmBox.replaceChildren();
        out.replaceChildren(h('div', { class: 'notice', role: 'alert', 'data-testid': 'action-error' }, actionError(err)));
      }
    });
    confirmBox.replaceChildren(h('div', { class: 'confirm', role: 'dialog', 'aria-label': 'confirm the change' },
      h('p', null, h('strong', null, `${text[0].toUpperCase()}${text.slice(1)}?`),
        ` This changes endpoint ${endpoint} (generation ${dep.generation}) for every caller and is audited under your key.`),
      h('div', { class: 'row' }, confirm, cancel)));
  }

  const setWeight = h('button', { type: 'button', disabled: !hasCanary, 'data-testid': 'set-weight' }, 'Set canary weight\u2026');
  setWeight.addEventListener('click', () => {
    const v = Math.round(Number(weight.value) * 100);
    if (!Number.isFinite(v) || v < 0 || v > 10000) { out.replaceChildren(h('div', { class: 'notice' }, 'The weight is a percentage from 0 to 100.')); return; }
    ask(`set the canary weight of ${endpoint} from ${bp(dep.canary_weight_bp)} to ${bp(v)}`, { action: 'set_weight', weight_bp: v });
  });
  const promote = h('button', { type: 'button', disabled: !hasCanary, 'data-testid': 'promote' }, 'Promote canary\u2026');
  promote.addEventListener('click', () => ask(`promote canary ${ver(dep.canary_version)} of ${endpoint} to stable`, { action: 'promote' }));
  const rollback = h('button', { type: 'button', disabled: !hasCanary && dep.shadow_version == null, 'data-testid': 'rollback' }, 'Roll back\u2026');
  rollback.addEventListener('click', () => ask(`roll back ${endpoint} to stable ${ver(dep.stable_version)} only`, { action: 'rollback' }, true));
  return h('div', null,
    h('h3', null, 'Actions (need the deploy scope)'),
    hasCanary ? null : h('p', { class: 'muted' }, 'No canary is running: start one with mlops deploy canary.'),
    h('div', { class: 'row' }, h('label', { for: 'canary-weight' }, 'canary weight (%)'), weight, setWeight, promote, rollback),
    h('div', { class: 'row' }, h('label', { for: 'action-reason' }, 'reason'), reason),
    confirmBox, out);
}

export async function endpointPage(endpoint, query) {
  const win = WINDOWS.includes(query.window) ? query.window : '1h';
  const path = `/v1/console/endpoints/${encodeURIComponent(endpoint)}`;
  const [doc, metrics] = await Promise.all([api(path), api(`${path}/metrics`, { query: { window: win } })]);
  const dep = doc.deployment;
  const note = flash;
  flash = null;
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'metrics window' }, WINDOWS.map((w) => h('a',
    { href: href(`/endpoint/${endpoint}`, { window: w }), class: w === win ? 'active' : '', 'aria-current': w === win ? 'true' : null }, `last ${w}`)));
  return h('div', null,
    h('h1', null, `Endpoint ${endpoint}`),
    note ? h('div', { class: `notice ${note.ok ? 'ok' : ''}`, role: 'status', 'data-testid': 'flash' }, note.text) : null,
    section('Deployment',
      h('dl', { class: 'facts' },
        h('dt', null, 'model'), h('dd', null, h('a', { href: href(`/model/${dep.model}`) }, dep.model)),
        h('dt', null, 'stable'), h('dd', { 'data-field': 'stable_version' }, ver(dep.stable_version)),
        h('dt', null, 'canary'), h('dd', { 'data-field': 'canary' }, dep.canary_version == null ? 'none' : `${ver(dep.canary_version)} at ${bp(dep.canary_weight_bp)}`),
        h('dt', null, 'shadow'), h('dd', { 'data-field': 'shadow' }, dep.shadow_version == null ? 'none' : `${ver(dep.shadow_version)} at ${pct(dep.shadow_rate)}`),
        h('dt', null, 'split'), h('dd', null, splitBar(dep)),
        h('dt', null, 'generation'), h('dd', { 'data-field': 'generation' }, num(dep.generation)),
        h('dt', null, 'last change'), h('dd', null, `${dep.last_action || dash} by ${dep.updated_by || dash} at ${when(dep.updated_at)}: ${dep.reason || dash}`)),
      actionsPanel(endpoint, dep)),
    section(`Metrics per variant, last ${win}`, tabs, metricCharts(endpoint, metrics)),
    abSection(doc.ab),
    section('Deployment timeline (audit log, newest first)', timelineTable(doc.timeline)),
    section('Which versions served when', servedTable(doc.served)));
}
