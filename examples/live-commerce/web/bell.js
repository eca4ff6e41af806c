// The notification bell: the unread count and the live feed
// (/api/notifications/ws). Other parts of the app subscribe to pushed
// notifications with `onNotification` (the sale page waits for
// `order-expired`).

import { api, ApiError } from './api.js';
import { LiveSocket } from './socket.js';

/** @typedef {{id: string|number, kind: string, payload: any, createdAt: string, readAt?: string|null}} Notification */

let unread = 0;
/** @type {LiveSocket | null} */
let feed = null;
let live = false;
/** @type {number | undefined} */
let liveTimer;
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
  try {
    const page = await api('/api/notifications?limit=1', { redirect401: false });
    setCount(page.unread);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) revokedHandler();
  }
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
  refresh();
  feed = new LiveSocket({
    path: '/api/notifications/ws',
    resume: true,
    onOpen() {
      live = false;
      // Should the server never say `live`, count from here on anyway.
      clearTimeout(liveTimer);
      liveTimer = window.setTimeout(() => {
        if (!live) {
          live = true;
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
        if (live) setCount(unread + 1);
        for (const fn of listeners) {
          try {
            fn(n, !live);
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
  clearTimeout(liveTimer);
  setCount(0);
}
