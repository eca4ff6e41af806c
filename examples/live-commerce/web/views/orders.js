// #/orders, and the order panel the item and sale pages show after a
// purchase: status badge, "Pay now", the payment countdown, live expiry.

import { api, ApiError, goLogin, serverNow, user } from '../api.js';
import * as bell from '../bell.js';
import { dateTime, field, h, mmss, money, mount, say, shortId, statusBadge } from '../dom.js';

/**
 * @typedef {{orderId: string|number, status: string, itemId?: number|string, count?: number,
 *   strategy?: string, createdAt?: string, expiresAt?: string|null, paidAt?: string|null,
 *   unitPrice?: number}} Order
 */

const KEYS = 'lc.idempotency';

/** One Idempotency-Key per order, reused on retries (kept across reloads). @param {string|number} orderId */
function idempotencyKey(orderId) {
  /** @type {Record<string,string>} */
  let keys = {};
  try {
    keys = JSON.parse(sessionStorage.getItem(KEYS) || '{}');
  } catch { /* ignore */ }
  const id = String(orderId);
  if (!keys[id]) {
    keys[id] = crypto.randomUUID();
    try {
      sessionStorage.setItem(KEYS, JSON.stringify(keys));
    } catch { /* ignore */ }
  }
  return keys[id];
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Pays an order, retrying `ORDER_NOT_READY` after 1 s; returns the order.
 * @param {string|number} orderId @param {AbortSignal} [signal]
 * @returns {Promise<Order>}
 */
export async function payOrder(orderId, signal) {
  const key = idempotencyKey(orderId);
  for (let attempt = 0; ; attempt++) {
    try {
      return await api(`/api/orders/${encodeURIComponent(String(orderId))}/pay`, {
        method: 'POST', headers: { 'Idempotency-Key': key }, signal,
      });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'ORDER_NOT_READY' && attempt < 20 && !signal?.aborted) {
        await sleep(1000);
        continue;
      }
      throw e;
    }
  }
}

/** @param {string|number} orderId @param {AbortSignal} [signal] @returns {Promise<Order>} */
export function fetchOrder(orderId, signal) {
  return api(`/api/orders/${encodeURIComponent(String(orderId))}`, { signal });
}

/**
 * A live order panel.
 * @param {Order} initial
 * @param {{signal: AbortSignal, cleanup: (fn: () => void) => void, title?: string,
 *   errorEl?: HTMLElement, compact?: boolean, onChange?: (o: Order) => void}} opts
 */
export function orderPanel(initial, opts) {
  /** @type {Order} */
  let order = { ...initial };
  const { signal } = opts;
  const errorEl = opts.errorEl || h('p', { class: 'alert error', role: 'alert', hidden: true });
  const badgeSlot = h('span', { class: 'badge-slot', 'aria-live': 'polite' });
  const timer = h('span', { class: 'pay-timer', testid: 'pay-timer' });
  const payButton = /** @type {HTMLButtonElement} */ (h('button', {
    type: 'button', class: 'button primary', testid: 'pay', onclick: () => pay(),
  }, 'Pay now'));
  const details = h('p', { class: 'muted small-text' });
  const el = h('section', { class: `card order-panel${opts.compact ? ' compact' : ''}`, 'aria-label': 'Your order' },
    h('div', { class: 'row between wrap' },
      h('div', null,
        h('h2', { class: 'order-title' }, opts.title || 'Your order', ' ', h('code', { class: 'order-id', title: String(order.orderId) }, `#${shortId(order.orderId)}`)),
        details),
      badgeSlot),
    h('div', { class: 'row wrap pay-row' }, payButton, timer),
    opts.errorEl ? null : errorEl);

  let paying = false;
  let fetching = false;
  let lastFetch = 0;
  let stopped = false;

  function draw() {
    badgeSlot.replaceChildren(statusBadge(order.status, { testid: 'order-status' }));
    const parts = [];
    if (order.count) parts.push(`${order.count} × ${order.unitPrice != null ? money(order.unitPrice) : ''}`.trim());
    if (order.count && order.unitPrice != null) parts.push(`total ${money(order.count * order.unitPrice)}`);
    if (order.createdAt) parts.push(`ordered ${dateTime(order.createdAt)}`);
    if (order.paidAt) parts.push(`paid ${dateTime(order.paidAt)}`);
    details.textContent = parts.join(' · ');
    const pending = order.status === 'PENDING_PAYMENT';
    payButton.hidden = !pending;
    payButton.disabled = paying;
    payButton.textContent = paying ? 'Paying…' : 'Pay now';
    tick();
    if (order.status === 'ACCEPTED') timer.textContent = 'Reserving your units…';
    else if (order.status === 'CONFIRMED') timer.textContent = 'Paid. Thank you!';
    else if (order.status === 'EXPIRED') timer.textContent = 'The payment window has ended.';
    else if (order.status === 'FAILED') timer.textContent = 'This order could not be completed.';
  }

  function tick() {
    if (order.status !== 'PENDING_PAYMENT') return;
    if (!order.expiresAt) {
      timer.textContent = '';
      return;
    }
    const left = new Date(order.expiresAt).getTime() - serverNow();
    timer.textContent = `pay within ${mmss(left)}`;
    if (left <= 0 && !paying) refetch();
  }

  /** @param {Order} next */
  function update(next) {
    const changed = next.status !== order.status;
    order = { ...order, ...next };
    draw();
    if (changed) opts.onChange?.(order);
  }

  async function refetch() {
    if (fetching || Date.now() - lastFetch < 1000 || signal.aborted || stopped) return;
    fetching = true;
    lastFetch = Date.now();
    try {
      update(await fetchOrder(order.orderId, signal));
    } catch (e) {
      if (!signal.aborted) console.warn(e);
    } finally {
      fetching = false;
    }
  }

  async function pay() {
    if (paying) return;
    paying = true;
    say(errorEl, '');
    draw();
    try {
      update(await payOrder(order.orderId, signal));
    } catch (e) {
      // A replaced panel must not write into the shared error element.
      if (signal.aborted || stopped) return;
      if (e instanceof ApiError && e.code === 'ORDER_EXPIRED') update({ ...order, status: 'EXPIRED' });
      else if (!(e instanceof ApiError && e.code === 'ALREADY_PAID')) say(errorEl, e instanceof Error ? e.message : String(e));
      lastFetch = 0;
      refetch();
    } finally {
      paying = false;
      if (!signal.aborted) draw();
    }
  }

  // Queued strategies: poll until the order leaves ACCEPTED.
  const poll = window.setInterval(() => {
    if (order.status === 'ACCEPTED') {
      lastFetch = 0;
      refetch();
    }
  }, 500);
  const clock = window.setInterval(tick, 1000);
  const off = bell.onNotification((n) => {
    if (!n || !n.payload || String(n.payload.orderId) !== String(order.orderId)) return;
    if (n.kind === 'order-expired' && order.status !== 'CONFIRMED') update({ ...order, status: 'EXPIRED' });
    else if (n.kind === 'order-confirmed') update({ ...order, status: 'CONFIRMED' });
    lastFetch = 0;
    refetch();
  });
  function stop() {
    stopped = true;
    clearInterval(poll);
    clearInterval(clock);
    off();
  }
  opts.cleanup(stop);
  draw();
  return { el, update, stop, get order() { return order; } };
}

/**
 * Quantity (1–10) and Buy; after a purchase the order panel goes in `slot`.
 * @param {{itemId: number|string, signal: AbortSignal, cleanup: (fn: () => void) => void,
 *   errorEl: HTMLElement, slot: HTMLElement, canBuy?: () => boolean, onBusy?: () => void}} opts
 */
export function buyForm(opts) {
  const { signal, errorEl } = opts;
  const quantity = /** @type {HTMLInputElement} */ (h('input', {
    id: 'buy-quantity', type: 'number', min: 1, max: 10, step: 1, value: 1, inputmode: 'numeric', testid: 'quantity',
  }));
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'button primary big', testid: 'buy' }, 'Buy'));
  const el = h('form', { class: 'buy-form', 'aria-label': 'Buy' }, field('Quantity (1–10)', quantity), button);
  const state = { busy: false };
  /** @type {ReturnType<typeof orderPanel> | null} */
  let panel = null;
  /** @param {Order} order */
  const show = (order) => {
    // The replaced panel's timers and listener would otherwise run (on a
    // detached element) until the visitor leaves the page.
    panel?.stop();
    const next = orderPanel(order, { signal, cleanup: opts.cleanup, errorEl });
    panel = next;
    opts.slot.replaceChildren(next.el);
    if (order.count == null) fetchOrder(order.orderId, signal).then(next.update).catch(() => {});
  };
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (state.busy || (opts.canBuy && !opts.canBuy())) return;
    const count = Math.trunc(Number(quantity.value));
    if (!(count >= 1 && count <= 10)) {
      say(errorEl, 'Choose a quantity from 1 to 10.');
      quantity.focus();
      return;
    }
    state.busy = true;
    button.disabled = true;
    say(errorEl, '');
    try {
      show(await api('/api/orders', { method: 'POST', body: { itemId: opts.itemId, count }, signal }));
    } catch (e) {
      if (!signal.aborted) say(errorEl, e instanceof Error ? e.message : String(e));
    } finally {
      state.busy = false;
      button.disabled = false;
      opts.onBusy?.();
    }
  });
  return { el, button, show, get busy() { return state.busy; } };
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render({ root, signal, cleanup }) {
  if (!user()) {
    goLogin();
    return;
  }
  mount(root, h('p', { class: 'muted' }, 'Loading your orders…'));
  const [orders, items] = await Promise.all([
    api('/api/orders', { signal }),
    api('/api/items', { signal }).catch(() => []),
  ]);
  /** @type {Map<string, string>} */
  const names = new Map(items.map((/** @type {any} */ i) => [String(i.id), i.name]));
  /** @type {Order[]} */
  const list = [...orders].sort((a, b) => String(b.createdAt || '').localeCompare(String(a.createdAt || '')));
  mount(root,
    h('h1', { class: 'page-title' }, 'My orders'),
    list.length === 0
      ? h('div', { class: 'card empty' }, h('p', null, 'No orders yet.'), h('a', { class: 'button primary', href: '#/' }, 'Browse the shop'))
      : h('ul', { class: 'stack', role: 'list' }, list.map((o) => h('li', { testid: 'order' },
        orderPanel(o, {
          signal, cleanup, compact: true,
          title: names.get(String(o.itemId)) || (o.itemId != null ? `Item #${o.itemId}` : 'Order'),
        }).el))));
}
