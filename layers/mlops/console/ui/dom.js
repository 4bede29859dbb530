// Tiny DOM helpers: every value reaches the page as text (never parsed as HTML).

export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

export const dash = '\u2013';

export function num(v, digits = 3) {
  if (v == null || Number.isNaN(v)) return dash;
  if (typeof v !== 'number') return String(v);
  const r = Number.isInteger(v) ? v : Number(v.toPrecision(digits));
  return Number.isInteger(r) ? r.toLocaleString('en-US') : r.toString();
}

export function pct(v, digits = 1) {
  return v == null ? dash : `${(v * 100).toFixed(digits)}%`;
}

export function bp(v) {
  return v == null ? dash : `${(v / 100).toFixed(v % 100 ? 2 : 0)}%`;
}

export function ms(v) {
  return v == null ? dash : `${num(v)} ms`;
}

export function ver(v) {
  return v == null ? dash : `v${v}`;
}

export function when(iso) {
  if (!iso) return dash;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function short(s, n = 12) {
  if (s == null) return dash;
  if (typeof s === 'object') return kv(s);
  const t = String(s).replace(/^sha256:/, '');
  return t.length > n ? t.slice(0, n) : t;
}

export function kv(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return dash;
  return entries.map(([k, v]) => `${k}=${v !== null && typeof v === 'object' ? JSON.stringify(v) : num(v, 4)}`).join(', ');
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    // a header written '#name' heads a numeric (right-aligned) column
    h('thead', null, h('tr', null, headers.map((t) => (String(t).startsWith('#') && t.length > 1
      ? h('th', { scope: 'col', class: 'num' }, t.slice(1)) : h('th', { scope: 'col' }, t))))),
    h('tbody', null, rows.length ? rows
      : h('tr', null, h('td', { colspan: headers.length, class: 'muted' }, 'nothing yet'))));
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

export function section(title, ...kids) {
  return h('section', { class: 'card' }, h('h2', null, title), kids);
}
