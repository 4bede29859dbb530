// Shared by the pages: move between hash routes, re-render the current one, show an API error.
import { ApiError } from './api.js';
import { h } from './dom.js';

let renderer = () => {};

export function setRenderer(fn) {
  renderer = fn;
}

export function refresh() {
  return renderer();
}

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path: decodeURIComponent(path), query: Object.fromEntries(new URLSearchParams(qs || '')) };
}

export function href(path, query) {
  const qs = new URLSearchParams(
    Object.entries(query || {}).filter(([, v]) => v != null && v !== ''),
  ).toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

export function go(path, query) {
  const target = href(path, query);
  if (location.hash === target) refresh();
  else location.hash = target;
}

export function errorNotice(err) {
  if (err instanceof ApiError && err.status === 403) {
    return h('div', { class: 'notice', role: 'alert', 'data-testid': 'forbidden' },
      `Your key lacks the scope this needs: ${err.message}.`);
  }
  const rid = err.requestId ? ` (request ${err.requestId})` : '';
  return h('div', { class: 'notice', role: 'alert', 'data-testid': 'error' }, `${err.message || String(err)}${rid}`);
}
