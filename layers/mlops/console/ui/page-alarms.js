// Alarms and notifications: the rules with their MQL and state, the state history, what the guardian did,
// and the notifications that went out.
import { api } from './api.js';
import { badge, dash, h, kv, num, section, table, when } from './dom.js';

const STATUS = { FIRING: 'bad', OK: 'ok', RESET: 'ok', PENDING: 'warn' };

function status(s) {
  return badge(s || dash, STATUS[s] || '');
}

function summary(body) {
  if (body == null) return dash;
  if (typeof body !== 'object') return String(body);
  const reason = body.details && typeof body.details.reason === 'string' ? `: ${body.details.reason}` : '';
  const text = body.what || body.title || body.message || body.summary || body.body;
  return typeof text === 'string' ? `${text}${reason}` : JSON.stringify(body).slice(0, 300);
}

export async function alarmsPage() {
  const doc = await api('/v1/console/alarms');
  const rules = doc.rules || [];
  const ruleRows = rules.map((r) => {
    const firing = (r.state || []).filter((s) => s.status === 'FIRING');
    return h('tr', { 'data-rule': r.name },
      h('td', null, h('strong', null, r.name), r.description ? h('div', { class: 'muted' }, r.description) : null),
      h('td', null, h('pre', { class: 'mql mono' }, r.mql)), h('td', null, badge(r.severity || dash, r.severity === 'CRITICAL' ? 'bad' : 'warn')),
      h('td', null, r.enabled === false ? 'disabled' : `pending ${r.pending || dash}`),
      h('td', { 'data-field': 'state' }, (r.state || []).length
        ? r.state.map((s) => h('div', null, status(s.status), ` value ${num(s.value)}${s.since ? ` since ${when(s.since)}` : ''} `, h('span', { class: 'muted' }, kv(s.dimensions))))
        : badge('no data')),
      h('td', { class: 'num' }, firing.length));
  });
  return h('div', null, h('h1', null, 'Alarms and notifications'),
    section('Rules', rules.length ? table(['rule', 'MQL', 'severity', 'settings', 'state', '#firing'], ruleRows, { 'data-testid': 'rules' })
      : h('p', { class: 'muted' }, 'No rules known here (in the cloud they live in OCI Monitoring).')),
    h('div', null,
      section('State changes (newest first)', table(['when', 'rule', 'status', '#value', 'dimensions'], (doc.history || []).map((e) => h('tr', null,
        h('td', { class: 'nowrap' }, when(e.at)), h('td', null, e.rule), h('td', null, status(e.status)), h('td', { class: 'num' }, num(e.value)), h('td', null, kv(e.dimensions)))), { 'data-testid': 'history' })),
      section('What the guardian did', table(['##', 'when', 'action', 'subject', 'why'], (doc.guardian_actions || []).map((e) => h('tr', null,
        h('td', { class: 'num' }, e.seq), h('td', { class: 'nowrap' }, when(e.ts)), h('td', { 'data-field': 'action' }, e.action), h('td', null, e.subject), h('td', null, e.reason || dash))), { 'data-testid': 'guardian' }))),
    section('Notifications (newest first)', table(['when', 'title', 'message'], (doc.notifications || []).map((n) => h('tr', null,
      h('td', { class: 'nowrap' }, when(n.at)), h('td', null, n.title || dash), h('td', null, summary(n.body)))), { 'data-testid': 'notifications' })));
}
