// The fetch wrapper (the `{success,data|error}` envelope) and the session state.

/** @typedef {{userId: string|number, email: string, admin: boolean}} User */

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @type {() => void} */
let onUnauthorized = () => {};

/** Called on a 401 from any call that did not opt out. @param {() => void} fn */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Reports that the session ended (a socket closed with 4001). */
export function signalSignedOut() {
  onUnauthorized();
}

// ---- server clock --------------------------------------------------------
// The server decides when a sale opens or an order expires with its own
// clock; countdowns use `serverNow()` so a wrong browser clock does not
// show a sale as open (or an order as payable) when it is not.

/** Server time minus browser time, in ms (0 until a response arrived). */
let clockOffset = 0;
/** The last samples of that offset (see `syncClock`). @type {number[]} */
const samples = [];

/**
 * Each response's `Date` (whole seconds, truncated, stamped before the
 * response travelled) minus the browser's time on arrival is at most the
 * true offset, never more: the largest recent sample is the closest, and
 * it errs late. So a countdown never shows a sale open before the server
 * does (a buy would be refused); at worst it opens under a second late,
 * less as samples accumulate. Only the last 20 count, so a browser clock
 * that is stepped later recovers.
 * @param {Response} res
 */
function syncClock(res) {
  const date = Date.parse(res.headers.get('date') || '');
  if (Number.isNaN(date)) return;
  samples.push(date - Date.now());
  if (samples.length > 20) samples.shift();
  clockOffset = Math.max(...samples);
}

/** The server's current time in ms since the epoch (best estimate). */
export function serverNow() {
  return Date.now() + clockOffset;
}

/**
 * Calls the API and returns `data`, or throws an {@link ApiError} with the
 * server's message.
 * @param {string} path
 * @param {{method?: string, body?: any, headers?: Record<string,string>, redirect401?: boolean, signal?: AbortSignal}} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts = {}) {
  const method = opts.method || 'GET';
  /** @type {Record<string,string>} */
  const headers = { accept: 'application/json', ...(opts.headers || {}) };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin', signal: opts.signal };
  if (method !== 'GET') headers['content-type'] = 'application/json';
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', navigator.onLine ? 'Could not reach the server. Please try again.' : 'You are offline.');
  }
  syncClock(res);
  let json = null;
  try {
    const text = await res.text();
    json = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  if (res.status === 401 && opts.redirect401 !== false) onUnauthorized();
  if (res.ok && json && json.success === true) return json.data;
  const error = json && json.error;
  let message = error && error.message;
  if (!message) {
    if (res.status === 429) message = 'Too many attempts. Please wait a moment and try again.';
    else if (res.status === 401) message = 'Please log in.';
    else if (res.status === 403) message = 'You are not allowed to do that.';
    else message = `Request failed (HTTP ${res.status}).`;
  }
  throw new ApiError(res.status, (error && error.code) || `HTTP_${res.status}`, message);
}

/** @param {string} path @param {any} [body] @param {Record<string,string>} [headers] */
export const post = (path, body, headers) => api(path, { method: 'POST', body, headers });

// ---- session -------------------------------------------------------------

/** @type {User | null} */
let currentUser = null;
/** @type {Set<(u: User|null) => void>} */
const userListeners = new Set();

export function user() {
  return currentUser;
}

/** @param {User | null} u */
export function setUser(u) {
  currentUser = u;
  for (const fn of userListeners) fn(u);
}

/** @param {(u: User|null) => void} fn @returns {() => void} */
export function onUserChange(fn) {
  userListeners.add(fn);
  return () => userListeners.delete(fn);
}

/** Loads `/api/auth/me`; null when logged out. */
export async function loadMe() {
  try {
    setUser(await api('/api/auth/me', { redirect401: false }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setUser(null);
    else throw e;
  }
  return currentUser;
}

/** A one-shot message for the login page ("You were signed out"). */
let notice = '';
/** @param {string} text */
export function setNotice(text) {
  notice = text;
}
export function takeNotice() {
  const n = notice;
  notice = '';
  return n;
}

/** Where to go after logging in (the page that needed it). */
let returnTo = '';
/** @param {string} hash */
export function setReturnTo(hash) {
  returnTo = hash;
}
export function takeReturnTo() {
  const r = returnTo;
  returnTo = '';
  return r && !r.startsWith('#/login') ? r : '#/';
}

/** Sends the visitor to the login page, remembering where they were. */
export function goLogin() {
  if (!location.hash.startsWith('#/login')) {
    setReturnTo(location.hash || '#/');
    location.hash = '#/login';
  }
}
