// Boot, the hash router and the header.

import { api, ApiError, goLogin, loadMe, onUserChange, setNotice, setUnauthorizedHandler, setUser, user } from './api.js';
import * as bell from './bell.js';
import { h, mount } from './dom.js';

/**
 * What a view gets: where to render, its route parameters, a signal that
 * aborts when the visitor leaves, and `cleanup` to register teardown
 * (timers, sockets).
 * @typedef {object} ViewContext
 * @property {HTMLElement} root
 * @property {string[]} params
 * @property {AbortSignal} signal
 * @property {(fn: () => void) => void} cleanup
 * @typedef {(ctx: ViewContext) => (void | Promise<void>)} View
 */

/** @type {Array<[RegExp, string, () => Promise<{render: View}>, string]>} */
const ROUTES = [
  [/^\/?$/, 'catalog', () => import('./views/catalog.js'), 'Shop'],
  [/^\/login$/, 'login', () => import('./views/auth.js'), 'Log in'],
  [/^\/items\/([^/]+)$/, 'item', () => import('./views/item.js'), 'Item'],
  [/^\/sale\/([^/]+)$/, 'sale', () => import('./views/sale.js'), 'Flash sale'],
  [/^\/live\/([a-z0-9_-]{1,64})$/, 'live', () => import('./views/live.js'), 'Live'],
  [/^\/notifications$/, 'notifications', () => import('./views/notifications.js'), 'Notifications'],
  [/^\/orders$/, 'orders', () => import('./views/orders.js'), 'My orders'],
  [/^\/admin$/, 'admin', () => import('./views/admin.js'), 'Admin'],
];

/** @type {View} */
function notFound({ root }) {
  mount(root,
    h('section', { class: 'card narrow center' },
      h('h1', null, 'Page not found'),
      h('p', { class: 'muted' }, 'There is nothing at this address.'),
      h('a', { class: 'button', href: '#/' }, 'Back to the shop')));
}

/** @type {{controller: AbortController, cleanups: Array<() => void>} | null} */
let current = null;
let seq = 0;
// The first page load keeps the browser's focus; later routes move it.
let firstRoute = true;

async function route() {
  const raw = (location.hash || '#/').replace(/^#/, '');
  let path = raw;
  try {
    path = decodeURIComponent(raw) || '/';
  } catch { /* a malformed address: not found */ }
  if (current) {
    current.controller.abort();
    for (const fn of current.cleanups.splice(0)) {
      try {
        fn();
      } catch (e) {
        console.error(e);
      }
    }
  }
  const mine = ++seq;
  const moveFocus = !firstRoute;
  firstRoute = false;
  const controller = new AbortController();
  /** @type {Array<() => void>} */
  const cleanups = [];
  current = { controller, cleanups };
  delete document.body.dataset.route;

  let name = 'notfound';
  let title = 'Not found';
  /** @type {View} */
  let view = notFound;
  /** @type {string[]} */
  let params = [];
  for (const [re, routeName, load, routeTitle] of ROUTES) {
    const m = path.match(re);
    if (m) {
      name = routeName;
      title = routeTitle;
      params = m.slice(1);
      try {
        view = (await load()).render;
      } catch (e) {
        console.error(e);
        view = failed('This page could not be loaded.');
      }
      break;
    }
  }
  if (mine !== seq) return;
  highlightNav(name);

  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  const root = h('div', { class: `view view-${name}` });
  main.replaceChildren(root);
  window.scrollTo(0, 0);
  /** @type {ViewContext} */
  const ctx = {
    root,
    params,
    signal: controller.signal,
    cleanup(fn) {
      if (controller.signal.aborted) fn();
      else cleanups.push(fn);
    },
  };
  try {
    await view(ctx);
  } catch (e) {
    if (controller.signal.aborted || (e instanceof DOMException && e.name === 'AbortError')) return;
    console.error(e);
    if (e instanceof ApiError && e.status === 401) return;
    failed(e instanceof Error ? e.message : String(e))(ctx);
  }
  if (mine !== seq || controller.signal.aborted) return;
  document.title = `${title} · Live Commerce`;
  document.body.dataset.route = name;
  if (moveFocus) focusView(main, root);
}

/**
 * Puts keyboard and screen-reader users on the new page: its `h1`, else
 * `main`. Not when they already moved into the view while it loaded.
 * @param {HTMLElement} main @param {HTMLElement} root
 */
function focusView(main, root) {
  if (root.contains(document.activeElement)) return;
  const heading = root.querySelector('h1');
  if (heading instanceof HTMLElement) {
    if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    heading.focus();
  } else {
    main.focus();
  }
}

/** @param {string} message @returns {View} */
function failed(message) {
  return ({ root }) =>
    mount(root,
      h('section', { class: 'card narrow center' },
        h('h1', null, 'Something went wrong'),
        h('p', { class: 'alert error', role: 'alert' }, message),
        h('button', { type: 'button', class: 'button', onclick: () => route() }, 'Try again')));
}

// ---- header ----------------------------------------------------------------

const NAV = [
  ['#/', 'Shop', 'catalog'],
  ['#/live/launch', 'Live', 'live'],
  ['#/orders', 'My orders', 'orders'],
  ['#/admin', 'Admin', 'admin'],
];

let activeRoute = '';
/** @param {string} name */
function highlightNav(name) {
  activeRoute = name;
  for (const a of document.querySelectorAll('.site-nav a')) {
    if (a.getAttribute('data-route') === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** @type {() => void} */
let unsubscribeCount = () => {};
let loggingOut = false;

function renderHeader() {
  const header = /** @type {HTMLElement} */ (document.getElementById('site-header'));
  const u = user();
  unsubscribeCount();
  unsubscribeCount = () => {};

  const nav = h('nav', { class: 'site-nav', 'aria-label': 'Main' },
    NAV.filter(([, , r]) => r !== 'admin' || (u && u.admin)).map(([href, label, r]) =>
      h('a', { href, dataset: { route: r }, 'aria-current': r === activeRoute ? 'page' : null }, label)));

  /** @type {HTMLElement} */
  let account;
  if (u) {
    const countEl = h('span', { class: 'bell-count', testid: 'bell-count', 'aria-hidden': 'true', hidden: true }, '0');
    const bellButton = h('button', {
      type: 'button', class: 'bell', testid: 'bell', 'aria-label': 'Notifications, 0 unread',
      onclick: () => { location.hash = '#/notifications'; },
    }, bellIcon(), countEl);
    unsubscribeCount = bell.onCount((n) => {
      countEl.textContent = String(n);
      countEl.hidden = n === 0;
      bellButton.setAttribute('aria-label', `Notifications, ${n} unread`);
    });
    account = h('div', { class: 'account' },
      bellButton,
      h('span', { class: 'user-email', testid: 'user-email', title: u.email }, u.email),
      h('button', { type: 'button', class: 'button small ghost', testid: 'logout', onclick: () => logout(false) }, 'Log out'),
      h('button', { type: 'button', class: 'button small ghost', testid: 'logout-all', onclick: () => logout(true) }, 'Log out everywhere'));
  } else {
    account = h('div', { class: 'account' }, h('a', { class: 'button small', href: '#/login' }, 'Log in'));
  }

  mount(header,
    h('div', { class: 'header-inner' },
      h('a', { class: 'brand', href: '#/' }, h('span', { class: 'brand-dot', 'aria-hidden': 'true' }), 'Live Commerce'),
      nav,
      account));
}

function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z');
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}

/** @param {boolean} everywhere */
async function logout(everywhere) {
  loggingOut = true;
  try {
    await api(everywhere ? '/api/auth/logout-all' : '/api/auth/logout', { method: 'POST', redirect401: false });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      loggingOut = false;
      alert(e instanceof Error ? e.message : String(e));
      return;
    }
  }
  bell.stop();
  setUser(null);
  if (everywhere) setNotice('You were signed out on every device.');
  loggingOut = false;
  if (location.hash === '#/login') route();
  else location.hash = '#/login';
}

/** The session ended elsewhere (close code 4001, or a 401). */
function signedOut() {
  if (loggingOut) return;
  if (!user()) {
    // Already signed out (e.g. a second socket closing with 4001): nothing
    // to tear down, and re-rendering the login page would consume the
    // one-shot notice. A 401 while logged out still leads to the login page.
    goLogin();
    return;
  }
  bell.stop();
  setUser(null);
  setNotice('You were signed out.');
  if (location.hash.startsWith('#/login')) route();
  else goLogin();
}

// ---- boot --------------------------------------------------------------------

async function boot() {
  setUnauthorizedHandler(signedOut);
  bell.onRevoked(signedOut);
  onUserChange(renderHeader);
  renderHeader();
  try {
    await loadMe();
  } catch (e) {
    console.error(e);
  }
  renderHeader();
  if (user()) bell.start();
  window.addEventListener('hashchange', () => route());
  await route();
}


boot();
