// Feature groups: every group's latest version with its offline counts; one group's versions with their
// definition (entity keys, event time, TTL, features) and ingestion batches, quarantined rows up front.
import { api } from './api.js';
import { badge, dash, h, num, pct, section, table, ver, when } from './dom.js';
import { href } from './nav.js';

const fgHref = (name, v) => href(`/feature/${encodeURIComponent(name)}`, { v });

function quarantined(n, rowsIn) {
  if (!n) return rowsIn ? badge('0', 'ok') : '0';
  return badge(rowsIn ? `${num(n)} (${pct(n / rowsIn)})` : num(n), 'bad');
}

function dates(first, last) {
  if (!first) return dash;
  return first === last ? first : `${first} \u2192 ${last}`;
}

export async function featuresPage() {
  const doc = await api('/v1/console/features');
  return h('div', null, h('h1', null, 'Feature groups'), section('Feature groups (latest version of each)', table(
    ['group', 'latest', '#versions', 'entity keys', 'event time', 'TTL', '#features', 'owner', '#rows stored', '#rows quarantined', '#batches', 'last ingested'],
    doc.groups.map((g) => h('tr', { 'data-group': g.group, title: g.description || '' },
      h('td', null, h('a', { href: fgHref(g.group) }, g.group)), h('td', { 'data-field': 'latest' }, ver(g.latest_version)),
      h('td', { class: 'num', 'data-field': 'versions' }, num(g.versions)),
      h('td', { class: 'mono', 'data-field': 'entity_keys' }, g.entity_keys.join(', ') || dash),
      h('td', { class: 'mono', 'data-field': 'event_time' }, g.event_time), h('td', { 'data-field': 'ttl' }, g.ttl),
      h('td', { class: 'num', 'data-field': 'features' }, num(g.features)), h('td', { 'data-field': 'owner' }, g.owner || dash),
      h('td', { class: 'num', 'data-field': 'rows' }, num(g.rows)),
      h('td', { class: 'num', 'data-field': 'quarantined' }, quarantined(g.quarantined, g.rows + g.quarantined)),
      h('td', { class: 'num', 'data-field': 'batches' }, num(g.batches)),
      h('td', { class: 'nowrap' }, when(g.last_ingested_at)))),
    { 'data-testid': 'features' })));
}

function versionsTable(name, versions, selected) {
  return table(['version', 'registered', 'by', '#features', 'TTL', '#batches', '#rows stored', '#rows quarantined', 'last ingested'],
    versions.map((v) => h('tr', { 'data-version': v.version, class: v.version === selected ? 'selected' : '' },
      h('td', null, h('a', { href: fgHref(name, v.version) }, ver(v.version))),
      h('td', { class: 'nowrap' }, when(v.created_at)), h('td', null, v.created_by || dash),
      h('td', { class: 'num' }, num(v.definition.features.length)), h('td', null, v.definition.ttl),
      h('td', { class: 'num', 'data-field': 'batches' }, num(v.offline.batches)),
      h('td', { class: 'num', 'data-field': 'rows' }, num(v.offline.rows)),
      h('td', { class: 'num', 'data-field': 'quarantined' }, quarantined(v.offline.quarantined, v.offline.rows + v.offline.quarantined)),
      h('td', { class: 'nowrap' }, when(v.offline.last_ingested_at)))), { 'data-testid': 'group-versions' });
}

function definition(name, v) {
  const d = v.definition;
  const keys = d.entity_keys.map((k) => h('tr', { 'data-column': k.name }, h('td', { class: 'mono' }, k.name),
    h('td', { 'data-field': 'type' }, k.type), h('td', null, 'no'), h('td', null, badge('entity key'))));
  const feats = d.features.map((f) => h('tr', { 'data-column': f.name }, h('td', { class: 'mono' }, f.name),
    h('td', { 'data-field': 'type' }, f.type), h('td', { 'data-field': 'nullable' }, f.nullable ? 'yes' : 'no'),
    h('td', { 'data-field': 'description' }, f.description || dash)));
  return h('div', { class: 'grid', 'data-testid': 'group-version' },
    section(`${name} ${ver(v.version)}: definition`, h('dl', { class: 'facts' },
      h('dt', null, 'description'), h('dd', { 'data-field': 'description' }, d.description || dash),
      h('dt', null, 'owner'), h('dd', { 'data-field': 'owner' }, d.owner || dash),
      h('dt', null, 'entity keys'), h('dd', { class: 'mono', 'data-field': 'entity_keys' }, d.entity_keys.map((k) => `${k.name} (${k.type})`).join(', ')),
      h('dt', null, 'event time'), h('dd', { class: 'mono', 'data-field': 'event_time' }, d.event_time),
      h('dt', null, 'TTL'), h('dd', { 'data-field': 'ttl' }, d.ttl === 'none' ? 'none (no limit)' : d.ttl),
      h('dt', null, 'source'), h('dd', { class: 'mono', 'data-field': 'source' }, d.source),
      h('dt', null, 'registered'), h('dd', null, `${when(v.created_at)} by ${v.created_by || dash}`),
      h('dt', null, 'event dates stored'), h('dd', { 'data-field': 'dates' }, dates(v.offline.first_date, v.offline.last_date)))),
    section(`${name} ${ver(v.version)}: columns`, table(['column', 'type', 'nullable', 'description'], [...keys, ...feats], { 'data-testid': 'group-features' })));
}

function quarantineCard(name, v) {
  const o = v.offline;
  const rowsIn = o.rows + o.quarantined;
  const head = o.quarantined
    ? badge(`${num(o.quarantined)} of ${num(rowsIn)} rows quarantined (${pct(o.quarantined / rowsIn)})`, 'bad')
    : badge(o.batches ? 'no row quarantined' : 'nothing ingested yet', o.batches ? 'ok' : '');
  const reasons = Object.entries(o.reasons || {}).map(([reason, n]) => h('tr', { 'data-reason': reason },
    h('td', { class: 'mono' }, reason), h('td', { class: 'num', 'data-field': 'count' }, num(n))));
  return section(`${name} ${ver(v.version)}: quarantine`, h('p', { 'data-testid': 'quarantine-total' }, head),
    reasons.length ? table(['reason (column: what was wrong)', '#rows'], reasons, { 'data-testid': 'quarantine-reasons' }) : null,
    h('p', { class: 'muted' }, 'A row can have several reasons. Quarantined rows are kept, with every reason, beside the offline store (features/quarantine/).'));
}

function reasonList(reasons) {
  const entries = Object.entries(reasons || {});
  if (!entries.length) return dash;
  return entries.map(([r, n], i) => [i ? h('br') : null, `${num(n)} \u00d7 ${r}`]);
}

function batchesTable(v) {
  const rows = v.batches.map((b) => h('tr', { 'data-batch': b.batch },
    h('td', { class: 'num' }, num(b.batch)), h('td', { class: 'nowrap' }, when(b.ingested_at)),
    h('td', null, b.ingested_by || dash), h('td', { class: 'mono', title: b.source || '' }, b.source ? String(b.source).split('/').pop() : dash),
    h('td', { class: 'num', 'data-field': 'rows_in' }, num(b.rows_in)),
    h('td', { class: 'num', 'data-field': 'rows_ok' }, num(b.rows_ok)),
    h('td', { class: 'num', 'data-field': 'rows_quarantined' }, quarantined(b.rows_quarantined, b.rows_in)),
    h('td', { 'data-field': 'reasons' }, reasonList(b.reasons)),
    h('td', { class: 'nowrap' }, dates(b.first_date, b.last_date)), h('td', { class: 'num' }, num(b.parts))));
  const more = v.batches_total > v.batches.length ? h('p', { class: 'muted' }, `The newest ${num(v.batches.length)} of ${num(v.batches_total)} batches.`) : null;
  return section(`Ingestion batches of ${ver(v.version)} (newest first)`, more,
    table(['#batch', 'ingested', 'by', 'source', '#rows in', '#stored', '#quarantined', 'reasons', 'event dates', '#parts'], rows, { 'data-testid': 'batches' }));
}

export async function featureGroupPage(name, query) {
  const doc = await api(`/v1/console/features/${encodeURIComponent(name)}`);
  const versions = doc.versions;
  const selected = query.v ? Number(query.v) : doc.latest_version;
  const shown = versions.find((v) => v.version === selected);
  const latest = versions[0];
  return h('div', null,
    h('h1', null, `Feature group ${doc.group}`),
    h('p', { class: 'muted' }, latest.definition.description || '', latest.definition.description ? ' \u2014 ' : '',
      `${num(doc.versions_total)} version${doc.versions_total === 1 ? '' : 's'}; each changed definition is a new version with its own offline data.`),
    section('Versions (newest first)', versionsTable(doc.group, versions, selected)),
    shown ? [quarantineCard(doc.group, shown), definition(doc.group, shown), batchesTable(shown)]
      : h('p', { class: 'muted' }, `Version ${query.v} is not registered.`));
}
