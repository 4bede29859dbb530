// The console: one page, hash routes (#/, #/endpoint/E, #/models, #/model/M, #/datasets, #/dataset/D, #/features, #/feature/G, #/drift, #/alarms, #/audit).
import { ApiError, session } from './api.js';
import { discardCharts, drawCharts } from './charts.js';
import { h } from './dom.js';
import { errorNotice, parseHash, setRenderer } from './nav.js';
import { alarmsPage } from './page-alarms.js';
import { auditPage } from './page-audit.js';
import { datasetPage, datasetsPage } from './page-datasets.js';
import { driftPage } from './page-drift.js';
import { endpointPage } from './page-endpoint.js';
import { featureGroupPage, featuresPage } from './page-features.js';
import { modelPage, modelsPage } from './page-model.js';
import { overviewPage } from './page-overview.js';

const ROUTES = [
  [/^\/?$/, 'overview', () => overviewPage()],
  [/^\/endpoint\/([^/]+)$/, 'overview', (m, q) => endpointPage(m[1], q)],
  [/^\/models$/, 'models', () => modelsPage()],
  [/^\/model\/([^/]+)$/, 'models', (m, q) => modelPage(m[1], q)],
  [/^\/datasets$/, 'datasets', () => datasetsPage()],
  [/^\/dataset\/([^/]+)$/, 'datasets', (m, q) => datasetPage(m[1], q)],
  [/^\/features$/, 'features', () => featuresPage()],
  [/^\/feature\/([^/]+)$/, 'features', (m, q) => featureGroupPage(m[1], q)],
  [/^\/drift$/, 'drift', (m, q) => driftPage(q)],
  [/^\/alarms$/, 'alarms', () => alarmsPage()],
  [/^\/audit$/, 'audit', (m, q) => auditPage(q)],
];

const $ = (id) => document.getElementById(id);
let generation = 0;

function showLogin(message) {
  session.logout();
  $('main').replaceChildren();
  $('login').hidden = false;
  $('nav').hidden = true;
  $('logout').hidden = true;
  const msg = $('login-message');
  msg.textContent = message || '';
  msg.hidden = !message;
  $('login-key').value = '';
  $('login-key').focus();
}

async function render() {
  const mine = ++generation;
  discardCharts();
  if (!session.key()) { showLogin(''); return; }
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  const { path, query } = parseHash();
  const route = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', !!route && a.dataset.page === route[1]);
  const main = $('main');
  main.setAttribute('aria-busy', 'true');
  let node;
  try {
    node = route ? await route[2](path.match(route[0]), query) : h('p', null, `No page ${path}.`);
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof ApiError && err.status === 401) {
      showLogin('The gateway did not accept that key (401). Log in again with a valid API key.');
      return;
    }
    node = errorNotice(err);
  }
  if (mine !== generation) return;
  main.replaceChildren(node);
  main.setAttribute('aria-busy', 'false');
  drawCharts();
}

function start() {
  setRenderer(render);
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('login-key').value.trim();
    if (!key) return;
    session.login(key);
    $('login-key').value = '';
    render();
  });
  $('logout').addEventListener('click', () => showLogin('Logged out: the key is gone from this tab.'));
  window.addEventListener('hashchange', render);
  render();
}

start();
