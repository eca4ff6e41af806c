// The notification bell: the unread count and the live feed
// (/api/notifications/ws). Other parts of the app subscribe to pushed
// notifications with `onNotification` (the sale page waits for
// `order-expired`).

import { api, ApiError, serverNow } from './api.js';
import { LiveSocket } from './socket.js';

/** @typedef {{id: string|number, kind: string, payload: any, createdAt: string, readAt?: string|null}} Notification */

let unread = 0;
/** @type {LiveSocket | null} */
let feed = null;
let live = false;
// The server never said `live` within 3 s: count frames as new only when
// they are not replayed history (see `isNew`).
let fallback = false;
/** @type {number | undefined} */
let liveTimer;
/** Server time when the feed started; older notifications are history. */
let startedAt = 0;
/** Ids of the notifications the feed delivered this session. @type {Set<string>} */
const seenIds = new Set();
// Bumped by every refresh/start/stop: a count response is applied only if
// nothing newer started since (a late one from a previous session or an
// older request must not overwrite a newer number).
let generation = 0;
/** @type {number | undefined} */
let refreshTimer;
/** @type {Set<(n: number) => void>} */
const countListeners = new Set();
/** @type {Set<(n: Notification, replayed: boolean) => void>} */
const listeners = new Set();
/** @type {() => void} */
let revokedHandler = () => {};

/** @param {number} n */
function setCount(n) {
  unread = Math.max(0, Number(n) || 0);
  for (const fn of countListeners) fn(unread);
}

export function count() {
  return unread;
}

/** Sets the unread count as the server reported it. @param {number} n */
export function setUnread(n) {
  setCount(n);
}

/** Re-reads the unread count. */
export async function refresh() {
  clearTimeout(refreshTimer);
  const gen = ++generation;
  try {
    const page = await api('/api/notifications?limit=1', { redirect401: false });
    if (gen === generation) setCount(page.unread);
  } catch (e) {
    if (gen === generation && e instanceof ApiError && e.status === 401) revokedHandler();
  }
}

/** Re-reads the count soon, once for a burst of pushed notifications. */
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(refresh, 1000);
}

/**
 * Whether a pushed notification is new (not history replayed on connect).
 * @param {Notification} n
 */
function isNew(n) {
  const id = String(n.id);
  const seen = seenIds.has(id);
  seenIds.add(id);
  if (live) return true;
  if (!fallback) return false;
  // No `live` marker yet: replayed history may still be arriving, so only an
  // unseen notification created after the feed started counts as new.
  const created = Date.parse(n.createdAt);
  return !seen && created > startedAt;
}

/** @param {(n: number) => void} fn @returns {() => void} */
export function onCount(fn) {
  countListeners.add(fn);
  fn(unread);
  return () => countListeners.delete(fn);
}

/**
 * Each pushed notification; `replayed` is true for ones the feed re-sends on
 * (re)connect, which may be old.
 * @param {(n: Notification, replayed: boolean) => void} fn @returns {() => void}
 */
export function onNotification(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** What to do when the session is revoked (close code 4001). @param {() => void} fn */
export function onRevoked(fn) {
  revokedHandler = fn;
}

/** Starts the feed for the logged-in user. */
export function start() {
  stop();
  live = false;
  startedAt = serverNow();
  refresh();
  feed = new LiveSocket({
    path: '/api/notifications/ws',
    resume: true,
    onOpen() {
      live = false;
      fallback = false;
      // Should the server never say `live`, count new ones from here on anyway.
      clearTimeout(liveTimer);
      liveTimer = window.setTimeout(() => {
        if (!live) {
          fallback = true;
          refresh();
        }
      }, 3000);
    },
    onFrame(frame) {
      if (frame.type === 'live') {
        clearTimeout(liveTimer);
        live = true;
        refresh();
      } else if (frame.type === 'message' && frame.payload) {
        /** @type {Notification} */
        const n = frame.payload;
        // Replayed ones are already in the count re-read on `live`.
        const fresh = isNew(n);
        if (fresh) {
          // At once for the badge; then the server's number wins (it may
          // already have counted this one).
          setCount(unread + 1);
          refreshSoon();
        }
        for (const fn of listeners) {
          try {
            fn(n, !fresh);
          } catch (e) {
            console.error(e);
          }
        }
      }
    },
    onRevoked() {
      revokedHandler();
    },
    onFailing() {
      refresh();
    },
  });
}

/** Closes the feed and forgets the count (logout). */
export function stop() {
  if (feed) feed.stop();
  feed = null;
  live = false;
  fallback = false;
  seenIds.clear();
  generation += 1;
  clearTimeout(refreshTimer);
  clearTimeout(liveTimer);
  setCount(0);
}
