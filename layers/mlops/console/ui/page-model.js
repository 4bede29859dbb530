// Models: every model; one model's versions with lineage and approvals, a version's card facts and
// importances (non-zero, sorted), and two versions compared.
import { api } from './api.js';
import { bars } from './charts.js';
import { badge, dash, h, kv, num, section, short, table, ver, when } from './dom.js';
import { go, href } from './nav.js';

const APPROVAL = { approved: 'ok', rejected: 'bad', pending: 'warn' };

export async function modelsPage() {
  const doc = await api('/v1/console/models');
  return h('div', null, h('h1', null, 'Models'), section('Registered models', table(
    ['model', '#versions', 'latest', 'aliases', 'governed aliases', 'description'],
    doc.models.map((m) => h('tr', { 'data-model': m.name },
      h('td', null, h('a', { href: href(`/model/${m.name}`) }, m.name)), h('td', { class: 'num', 'data-field': 'versions' }, num(m.versions)),
      h('td', null, ver(m.latest_version)), h('td', null, kv(m.aliases)), h('td', null, (m.governed_aliases || []).join(', ') || dash),
      h('td', null, m.description || dash))))));
}

function approval(a) {
  if (!a || !a.state || a.state === 'none') return badge('not requested');
  const who = a.state === 'pending' ? `requested by ${a.requested_by || dash}` : `by ${a.decided_by || dash} at ${when(a.decided_at)}`;
  return [badge(a.state, APPROVAL[a.state]), ' ', who, a.comment ? ` (\u201c${a.comment}\u201d)` : ''];
}

function versionsTable(model, versions, selected) {
  return table(['version', 'registered', 'by', 'aliases', 'approval', 'commit', 'training data', 'parameters', 'metrics'],
    versions.map((v) => h('tr', { 'data-version': v.version, class: v.version === selected ? 'selected' : '' },
      h('td', null, h('a', { href: href(`/model/${model}`, { v: v.version }) }, ver(v.version))),
      h('td', { class: 'nowrap' }, when(v.created_at)), h('td', null, v.created_by || dash),
      h('td', { 'data-field': 'aliases' }, (v.aliases || []).join(', ') || dash),
      h('td', { 'data-field': 'approval' }, approval(v.approval)),
      h('td', { class: 'mono', title: v.code_commit || '' }, short(v.code_commit, 10)),
      h('td', { class: 'mono', title: v.training_data_digest || '' }, short(v.training_data_digest, 12)),
      h('td', null, kv(v.params)), h('td', { 'data-field': 'metrics' }, kv(v.metrics)))), { 'data-testid': 'versions' });
}

function importanceBars(rows, label) {
  const nz = (rows || []).filter((r) => r.importance > 0).sort((a, b) => b.importance - a.importance);
  if (!nz.length) return h('p', { class: 'muted' }, `No ${label}.`);
  return bars(nz.map((r) => ({ name: r.feature, value: r.importance })), { valueLabel: label, format: (v) => num(v, 3) });
}

function datasetLinks(refs) {
  const items = Object.entries(refs || {});
  if (!items.length) return dash;
  return items.map(([role, r], i) => [i ? ', ' : '', `${role}: `,
    h('a', { href: href(`/dataset/${encodeURIComponent(r.name)}`, { v: r.version }), 'data-dataset': r.ref }, r.ref)]);
}

function versionDetail(d) {
  const lin = d.lineage || {};
  const card = d.card || {};
  const baseline = (card.baseline || []).map((b) => h('tr', null, h('td', null, b.feature), h('td', null, b.kind || dash),
    h('td', { class: 'num' }, num(b.n)), h('td', { class: 'num' }, num(b.mean)), h('td', { class: 'num' }, num(b.std)),
    h('td', { class: 'num' }, num(b.min)), h('td', { class: 'num' }, num(b.max))));
  return h('div', { 'data-testid': 'version-detail' }, h('div', { class: 'grid' },
    section(`${d.model} ${ver(d.version)}: lineage`, h('dl', { class: 'facts' },
      h('dt', null, 'estimator'), h('dd', { 'data-field': 'estimator' }, card.estimator || dash),
      h('dt', null, 'flavor'), h('dd', null, lin.flavor || dash),
      h('dt', null, 'code commit'), h('dd', { class: 'mono', 'data-field': 'code_commit' }, lin.code_commit || dash),
      h('dt', null, 'training data'), h('dd', { class: 'mono' }, lin.training_data_digest || dash),
      h('dt', null, 'datasets'), h('dd', { 'data-field': 'datasets' }, datasetLinks((d.record || {}).datasets)),
      h('dt', null, 'source'), h('dd', null, lin.source && typeof lin.source === 'object' ? kv(lin.source) : lin.source || dash),
      h('dt', null, 'parameters'), h('dd', { 'data-field': 'params' }, kv(lin.params)),
      h('dt', null, 'metrics'), h('dd', null, kv(lin.metrics)),
      h('dt', null, 'aliases'), h('dd', null, (d.aliases || []).join(', ') || dash),
      h('dt', null, 'approval'), h('dd', { 'data-field': 'approval' }, approval(d.approval_summary || d.approval)),
      h('dt', null, 'inputs'), h('dd', null, `${((d.signature || {}).inputs || []).length} features`))),
    section('Feature importances (non-zero, largest first)', h('div', { 'data-testid': 'importances' }, importanceBars(d.importances, 'importances')),
      d.shap_importance ? [h('h3', null, 'Mean |SHAP|'), importanceBars(d.shap_importance, 'SHAP importances')] : null)),
    baseline.length ? section('Training baseline (model card)', table(['feature', 'kind', '#rows', '#mean', '#std', '#min', '#max'], baseline)) : null);
}

function compareSection(model, versions, cmp, query) {
  const pick = (name, value) => h('select', { id: `cmp-${name}`, 'aria-label': `version ${name}` },
    versions.map((v) => h('option', { value: v.version, selected: String(v.version) === String(value) }, ver(v.version))));
  const a = pick('a', query.a || (versions[1] || versions[0] || {}).version);
  const b = pick('b', query.b || (versions[0] || {}).version);
  const btn = h('button', { type: 'button', 'data-testid': 'compare' }, 'Compare');
  btn.addEventListener('click', () => go(`/model/${model}`, { v: query.v, a: a.value, b: b.value }));
  const body = [];
  if (cmp) {
    const changed = (c) => (c ? badge('changed', 'warn') : '');
    body.push(
      h('h3', null, `Metrics: ${ver(cmp.a.version)} vs ${ver(cmp.b.version)}`),
      table(['metric', `#${ver(cmp.a.version)}`, `#${ver(cmp.b.version)}`, '#difference (b - a)'], cmp.metrics.map((m) => h('tr', null,
        h('td', null, m.name), h('td', { class: 'num' }, num(m.a, 4)), h('td', { class: 'num' }, num(m.b, 4)), h('td', { class: 'num' }, num(m.delta, 3)))), { 'data-testid': 'compare-metrics' }),
      h('h3', null, 'Parameters'),
      table(['parameter', ver(cmp.a.version), ver(cmp.b.version), ''], cmp.params.map((p) => h('tr', null,
        h('td', null, p.name), h('td', null, num(p.a, 4)), h('td', null, num(p.b, 4)), h('td', null, changed(p.changed))))),
      h('h3', null, 'Lineage'),
      table(['field', ver(cmp.a.version), ver(cmp.b.version), ''], cmp.lineage.map((p) => h('tr', null,
        h('td', null, p.name), h('td', { class: 'mono' }, short(p.a, 40)), h('td', { class: 'mono' }, short(p.b, 40)), h('td', null, changed(p.changed))))),
      h('h3', null, 'Importances'),
      table(['feature', `#${ver(cmp.a.version)}`, `#${ver(cmp.b.version)}`], cmp.importances.map((p) => h('tr', null,
        h('td', null, p.feature), h('td', { class: 'num' }, num(p.a)), h('td', { class: 'num' }, num(p.b))))));
  }
  return section('Compare two versions', h('div', { class: 'row' }, a, 'with', b, btn), body);
}

export async function modelPage(model, query) {
  const path = `/v1/console/models/${encodeURIComponent(model)}`;
  const doc = await api(path);
  const versions = doc.versions;
  const selected = query.v ? Number(query.v) : (versions[0] || {}).version;
  const [detail, cmp] = await Promise.all([
    selected != null ? api(`${path}/versions/${selected}`) : null,
    query.a && query.b ? api(`${path}/compare`, { query: { a: query.a, b: query.b } }) : null,
  ]);
  const m = doc.model;
  return h('div', null,
    h('h1', null, `Model ${m.name}`),
    h('p', { class: 'muted' }, `${m.description || 'No description.'} Aliases: ${kv(m.aliases)}. Governed: ${(m.governed_aliases || []).join(', ') || dash}.`),
    section('Versions (newest first)', versionsTable(model, versions, selected)),
    detail ? versionDetail(detail) : null,
    compareSection(model, versions, cmp, query));
}
