// Datasets: every dataset's newest version; one dataset's versions with schema, lineage and the model
// versions that reference each (links to the Model page); two versions diffed (from their manifests).
import { api } from './api.js';
import { badge, dash, h, num, pct, section, short, table, ver, when } from './dom.js';
import { go, href } from './nav.js';

const dsHref = (name, v) => href(`/dataset/${encodeURIComponent(name)}`, { v });

// an event time without a zone (a naive timestamp column) is shown as stored, not read as browser-local
function stamp(t) {
  if (!t) return dash;
  return /(Z|[+-]\d\d:?\d\d)$/.test(t) ? when(t) : String(t).replace('T', ' ').replace(/\.0+$/, '');
}

function range(tr) {
  return tr && (tr.min || tr.max) ? `${stamp(tr.min)} \u2192 ${stamp(tr.max)}` : dash;
}

function plural(n, word) {
  return `${num(n)} ${word}${n === 1 ? '' : 's'}`;
}

function bytes(n) {
  if (n == null) return dash;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export async function datasetsPage() {
  const doc = await api('/v1/console/datasets');
  return h('div', null, h('h1', null, 'Datasets'), section('Datasets (newest version of each)', table(
    ['dataset', 'latest', '#versions', '#rows', '#columns', 'event time range', 'digest', 'created', 'by'],
    doc.datasets.map((d) => h('tr', { 'data-dataset': d.name },
      h('td', null, h('a', { href: dsHref(d.name) }, d.name)), h('td', { 'data-field': 'latest' }, ver(d.latest_version)),
      h('td', { class: 'num', 'data-field': 'versions' }, num(d.versions)), h('td', { class: 'num', 'data-field': 'rows' }, num(d.rows)),
      h('td', { class: 'num' }, num(d.columns)), h('td', { class: 'nowrap', 'data-field': 'time_range' }, range(d.time_range)),
      h('td', { class: 'mono', title: d.digest || '', 'data-field': 'digest' }, short(d.digest, 12)),
      h('td', { class: 'nowrap' }, when(d.created_at)), h('td', null, d.created_by || dash))),
    { 'data-testid': 'datasets' })));
}

function modelLinks(refs) {
  if (!refs || !refs.length) return dash;
  return refs.map((r, i) => [i ? ', ' : '', h('a', { href: href(`/model/${encodeURIComponent(r.model)}`, { v: r.version }), 'data-ref': `${r.model}:${r.version}` },
    `${r.model} ${ver(r.version)}`), ` (${r.role})`]);
}

function versionsTable(name, versions, selected) {
  return table(['version', 'created', 'by', '#rows', '#parts', '#size', 'event time range', 'digest', 'used by model versions'],
    versions.map((v) => h('tr', { 'data-version': v.version, class: v.version === selected ? 'selected' : '' },
      h('td', null, h('a', { href: dsHref(name, v.version) }, ver(v.version))),
      h('td', { class: 'nowrap' }, when(v.created_at)), h('td', null, v.created_by || dash),
      h('td', { class: 'num', 'data-field': 'rows' }, num(v.rows)), h('td', { class: 'num' }, num(v.parts)),
      h('td', { class: 'num nowrap' }, bytes(v.bytes)), h('td', { class: 'nowrap' }, range(v.time_range)),
      h('td', { class: 'mono', title: v.digest || '', 'data-field': 'digest' }, short(v.digest, 12)),
      h('td', { 'data-field': 'referenced_by' }, modelLinks(v.referenced_by)))), { 'data-testid': 'dataset-versions' });
}

function lineageFacts(lin) {
  const list = (xs) => (xs && xs.length ? xs.join(', ') : dash);
  const parents = (lin.datasets || []).map((ref, i) => {
    const [n, v] = String(ref).split(':');
    return [i ? ', ' : '', h('a', { href: dsHref(n, v) }, ref)];
  });
  const groups = (lin.feature_groups || []).map((ref, i) => {
    const [n, v] = String(ref).split(':');
    return [i ? ', ' : '', h('a', { href: href(`/feature/${encodeURIComponent(n)}`, { v }), 'data-group': ref }, ref)];
  });
  return [
    h('dt', null, 'sources'), h('dd', { 'data-field': 'sources' }, list(lin.sources)),
    h('dt', null, 'feature groups'), h('dd', { 'data-field': 'feature_groups' }, groups.length ? groups : dash),
    h('dt', null, 'parent datasets'), h('dd', { 'data-field': 'parents' }, parents.length ? parents : dash),
    h('dt', null, 'labels'), h('dd', null, lin.labels || dash),
  ];
}

function versionDetail(name, v) {
  const keys = new Set(v.entity_keys || []);
  const rows = (v.columns || []).map((c) => h('tr', { 'data-column': c.name },
    h('td', { class: 'mono' }, c.name), h('td', { 'data-field': 'type' }, c.type || dash),
    h('td', null, c.nullable ? 'yes' : 'no'), h('td', { class: 'num', 'data-field': 'null_count' }, num(c.null_count)),
    h('td', { class: 'num' }, c.null_count == null || !v.rows ? dash : pct(c.null_count / v.rows)),
    h('td', null, keys.has(c.name) ? badge('entity key') : null, c.name === v.event_time ? badge('event time') : null)));
  const loc = v.location || {};
  return h('div', { class: 'grid', 'data-testid': 'dataset-version' },
    section(`${name} ${ver(v.version)}: schema`, table(['column', 'type', 'nullable', '#nulls', '#null rate', ''], rows, { 'data-testid': 'schema' })),
    section(`${name} ${ver(v.version)}: facts and lineage`, h('dl', { class: 'facts' },
      h('dt', null, 'digest'), h('dd', { class: 'mono', 'data-field': 'digest' }, v.digest || dash),
      h('dt', null, 'rows'), h('dd', { 'data-field': 'rows' }, num(v.rows)),
      h('dt', null, 'entity keys'), h('dd', { 'data-field': 'entity_keys' }, (v.entity_keys || []).join(', ') || dash),
      h('dt', null, 'event time'), h('dd', { 'data-field': 'event_time' }, v.event_time || dash),
      h('dt', null, 'event time range'), h('dd', null, range(v.time_range)),
      h('dt', null, 'stored'), h('dd', { class: 'mono' }, `${loc.store || dash} ${loc.prefix || ''} (${v.format || dash}, ${v.compression || dash})`),
      h('dt', null, 'description'), h('dd', null, v.description || dash),
      lineageFacts(v.lineage || {}),
      h('dt', null, 'used by'), h('dd', null, modelLinks(v.referenced_by)))));
}

function points(change) {
  const p = (change * 100).toFixed(1);
  return `${change > 0 ? '+' : ''}${p} pts`;
}

function diffBody(d) {
  const cols = d.columns || {};
  const list = (xs, field) => h('span', { 'data-field': field }, xs && xs.length ? xs.join(', ') : 'none');
  const changed = (cols.changed || []).map((c) => h('tr', null, h('td', { class: 'mono' }, c.name),
    h('td', null, `${c.type[0]} \u2192 ${c.type[1]}`), h('td', null, `${c.nullable[0]} \u2192 ${c.nullable[1]}`)));
  const nulls = (d.null_rates || []).map((r) => h('tr', null, h('td', { class: 'mono' }, r.name),
    h('td', { class: 'num' }, pct(r.a)), h('td', { class: 'num' }, pct(r.b)), h('td', { class: 'num' }, r.change == null ? dash : points(r.change))));
  const pair = (p) => (p ? `${JSON.stringify(p[0])} \u2192 ${JSON.stringify(p[1])}` : 'unchanged');
  return h('div', { 'data-testid': 'dataset-diff' },
    h('p', null, d.same_content ? badge('same content', 'ok') : badge('content differs', 'warn'), ` ${d.a} \u2192 ${d.b}`),
    h('dl', { class: 'facts' },
      h('dt', null, 'columns added'), h('dd', null, list(cols.added, 'added')),
      h('dt', null, 'columns removed'), h('dd', null, list(cols.removed, 'removed')),
      h('dt', null, 'column order'), h('dd', null, cols.order_changed ? 'changed' : 'unchanged'),
      h('dt', null, 'rows'), h('dd', { 'data-field': 'rows' }, `${num(d.rows.a)} \u2192 ${num(d.rows.b)} (${d.rows.change >= 0 ? '+' : ''}${num(d.rows.change)})`),
      h('dt', null, 'event time range'), h('dd', null, d.time_range.changed ? [`a: ${range(d.time_range.a)}`, h('br'), `b: ${range(d.time_range.b)}`] : 'unchanged'),
      h('dt', null, 'entity keys'), h('dd', null, pair(d.entity_keys)),
      h('dt', null, 'event time column'), h('dd', null, pair(d.event_time))),
    changed.length ? [h('h3', null, 'Columns with a new type or nullability'), table(['column', 'type', 'nullable'], changed)] : null,
    h('h3', null, 'Null rates that moved'), table(['column', '#a', '#b', '#change (percentage points)'], nulls, { 'data-testid': 'null-rates' }));
}

function diffSection(name, versions, d, query) {
  const pick = (which, value) => h('select', { id: `ds-${which}`, 'aria-label': `version ${which}` },
    versions.map((v) => h('option', { value: v.version, selected: String(v.version) === String(value) }, ver(v.version))));
  const a = pick('a', query.a || (versions[1] || versions[0] || {}).version);
  const b = pick('b', query.b || (versions[0] || {}).version);
  const btn = h('button', { type: 'button', 'data-testid': 'diff' }, 'Diff');
  btn.addEventListener('click', () => go(`/dataset/${encodeURIComponent(name)}`, { v: query.v, a: a.value, b: b.value }));
  return section('Diff two versions', h('div', { class: 'row' }, a, 'to', b, btn), d ? diffBody(d) : null);
}

export async function datasetPage(name, query) {
  const path = `/v1/console/datasets/${encodeURIComponent(name)}`;
  const [doc, d] = await Promise.all([
    api(path),
    query.a && query.b ? api(`${path}/diff`, { query: { a: query.a, b: query.b } }) : null,
  ]);
  const versions = doc.versions;
  const selected = query.v ? Number(query.v) : (versions[0] || {}).version;
  const shown = versions.find((v) => v.version === selected);
  const scan = doc.references_scan || {};
  return h('div', null,
    h('h1', null, `Dataset ${doc.name}`),
    h('p', { class: 'muted' }, `${plural(doc.versions_total, 'version')}. Model references from ${plural(scan.versions, 'version record')} of ${plural(scan.models, 'model')}`,
      scan.complete ? '.' : ` (not all: at most the newest ${num(scan.per_model_limit)} of each model).`),
    section('Versions (newest first)', versionsTable(doc.name, versions, selected)),
    shown ? versionDetail(doc.name, shown) : h('p', { class: 'muted' }, `Version ${query.v} is not among those listed.`),
    diffSection(doc.name, versions, d, query));
}
