// Audit: the chain's verification status, a search by model/endpoint/actor/action/time, and
// "what served endpoint E at time T".
import { api } from './api.js';
import { badge, dash, h, num, section, short, table, ver, when } from './dom.js';
import { go } from './nav.js';

const FILTERS = ['model', 'endpoint', 'actor', 'action', 'since', 'until'];

function details(d) {
  if (!d) return dash;
  const keys = ['version', 'alias', 'reason', 'comment', 'decision', 'state'];
  const parts = keys.filter((k) => d[k] != null).map((k) => {
    const v = d[k];
    if (k === 'state' && typeof v === 'object') return `stable ${ver(v.stable_version)}${v.canary_version != null ? `, canary ${ver(v.canary_version)} at ${num(v.canary_weight_bp / 100)}%` : ''}`;
    return `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`;
  });
  return parts.join('; ') || JSON.stringify(d).slice(0, 160);
}

function verifyBox(v, query) {
  const anchor = v.anchor || {};
  const again = h('button', { type: 'button', 'data-testid': 'verify-now' }, 'Verify now');
  again.addEventListener('click', () => go('/audit', { ...query, fresh: Date.now() }));
  return section('Chain verification',
    h('p', { 'data-field': 'verify' }, badge(v.ok ? 'verified' : 'BROKEN', v.ok ? 'ok' : 'bad'),
      ` ${num(v.entries)} entries, last #${num(v.last_seq)}; anchor ${anchor.state || dash}${anchor.message ? `: ${anchor.message}` : ''}`),
    h('p', { class: 'row muted' }, h('span', { 'data-field': 'checked' },
      `${v.cached ? 'kept result of the check at' : 'checked now, at'} ${when(v.checked_at)}`), again),
    (v.problems || []).length ? h('ul', null, v.problems.map((p) => h('li', { class: 'error' }, typeof p === 'string' ? p : JSON.stringify(p)))) : null);
}

function searchForm(query) {
  const inputs = FILTERS.map((f) => h('input', { id: `q-${f}`, name: f, value: query[f] || '', size: 14,
    placeholder: f === 'since' || f === 'until' ? '2026-12-02T15:00:00Z' : f === 'action' ? 'deployment.' : '' }));
  const form = h('form', { class: 'row', 'data-testid': 'audit-search' },
    FILTERS.map((f, i) => h('label', null, `${f} `, inputs[i])), h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go('/audit', Object.fromEntries(FILTERS.map((f, i) => [f, inputs[i].value.trim()])));
  });
  return form;
}

function servedForm(query, served) {
  const ep = h('input', { id: 'served-endpoint', value: query.served_endpoint || '', size: 14, placeholder: 'endpoint' });
  const at = h('input', { id: 'served-at', value: query.served_at || new Date().toISOString().replace(/\.\d+Z$/, 'Z'), size: 22 });
  const form = h('form', { class: 'row' }, h('label', null, 'endpoint ', ep), h('label', null, 'at (UTC) ', at),
    h('button', { type: 'submit' }, 'What served it?'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go('/audit', { ...query, fresh: null, served_endpoint: ep.value.trim(), served_at: at.value.trim() });
  });
  let answer = null;
  if (served) {
    const s = served.state || {};
    const vs = served.versions || {};
    const line = (name) => (vs[name] ? h('li', null, `${name} ${ver(vs[name].version)}, commit `, h('span', { class: 'mono' }, short(vs[name].code_commit, 10)), ', data ', h('span', { class: 'mono' }, short(vs[name].training_data_digest, 12))) : null);
    answer = h('div', { 'data-testid': 'served' },
      h('p', null, h('strong', null, `${served.endpoint} at ${when(served.at)}: `),
        h('span', { 'data-field': 'served-state' }, `stable ${ver(s.stable_version)}${s.canary_version != null ? `, canary ${ver(s.canary_version)} at ${num(s.canary_weight_bp / 100)}%` : ', no canary'}${s.shadow_version != null ? `, shadow ${ver(s.shadow_version)}` : ''}`),
        ` (since ${when(served.since)}, entry #${served.seq}: ${served.action} by ${served.actor})`),
      h('ul', null, line('stable'), line('canary'), line('shadow')));
  }
  return section('What served an endpoint at a time', form, answer);
}

export async function auditPage(query) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query[f]]));
  const [verify, doc, served] = await Promise.all([
    api('/v1/console/audit/verify', { query: { fresh: query.fresh ? 1 : null } }),
    api('/v1/console/audit', { query: { ...filters, before_seq: query.before_seq, limit: 50 } }),
    query.served_endpoint && query.served_at ? api('/v1/console/audit/served', { query: { endpoint: query.served_endpoint, at: query.served_at } }) : null,
  ]);
  const rows = doc.entries.map((e) => h('tr', { 'data-seq': e.seq },
    h('td', { class: 'num' }, e.seq), h('td', { class: 'nowrap' }, when(e.ts)), h('td', { 'data-field': 'actor' }, e.actor),
    h('td', { 'data-field': 'action' }, e.action), h('td', null, e.subject), h('td', null, details(e.details))));
  const older = doc.next_before_seq != null
    ? h('button', { type: 'button', 'data-testid': 'older' }, 'Older entries') : null;
  if (older) older.addEventListener('click', () => go('/audit', { ...query, fresh: null, before_seq: doc.next_before_seq }));
  return h('div', null, h('h1', null, 'Audit'), verifyBox(verify, query), servedForm(query, served),
    section('Entries (newest first)', searchForm(query), table(['##', 'when', 'actor', 'action', 'subject', 'details'], rows, { 'data-testid': 'entries' }), older));
}
