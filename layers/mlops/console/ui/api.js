// The console's only way to the data: JSON routes behind the gateway's authorizer.
// The API key lives in sessionStorage (this tab, until it closes), goes out only in the
// Authorization header, and is never put in a URL, a cookie or localStorage.

const KEY = 'mlops.console.key';
// the page is served at <prefix>/ui/, the API at <prefix>/v1/...
const BASE = new URL('../', document.baseURI);

export const session = {
  key: () => sessionStorage.getItem(KEY),
  login: (key) => sessionStorage.setItem(KEY, key),
  logout: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export async function api(path, { query, method = 'GET', body } = {}) {
  const key = session.key();
  if (!key) throw new ApiError(401, 'no_key', 'log in with an API key');
  const url = new URL(path.replace(/^\//, ''), BASE);
  for (const [k, v] of Object.entries(query || {})) {
    if (v != null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
  } catch (err) {
    throw new ApiError(0, 'network', `the gateway did not answer (${err.message})`);
  }
  let doc = null;
  try { doc = await resp.json(); } catch { doc = null; }
  if (!resp.ok) {
    const e = (doc && doc.error) || {};
    throw new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText, e.request_id);
  }
  return doc;
}
