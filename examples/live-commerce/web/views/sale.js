// #/sale/{id}: the flash-sale page: countdown to the start, live units left
// (stock WebSocket), quantity + Buy, then the order panel.

import { api, goLogin, serverNow, user } from '../api.js';
import { h, hms, money, mount } from '../dom.js';
import { LiveSocket } from '../socket.js';
import { kindBadge, thumb } from './catalog.js';
import { buyForm } from './orders.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { root, params, signal, cleanup } = ctx;
  const id = params[0];
  mount(root, h('p', { class: 'muted' }, 'Loading the sale…'));
  const item = await api(`/api/items/${encodeURIComponent(id)}`, { signal });
  const me = user();
  const startMs = item.kind === 'TIME_DEAL' && item.startAt ? new Date(item.startAt).getTime() : null;

  const countdown = h('strong', { class: 'countdown', testid: 'countdown', 'aria-live': 'off' });
  const countdownLabel = h('span', { class: 'countdown-label' });
  // The ticking countdown stays silent; only the opening is announced, once.
  const announce = h('span', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const stockLeft = h('strong', { class: 'stock-number', testid: 'stock-left' });
  const stockNote = h('span', { class: 'muted small-text stock-live', title: 'Live stock' });
  const error = h('p', { class: 'alert error', role: 'alert', testid: 'sale-error', hidden: true });
  const orderSlot = h('div', { class: 'order-slot', 'aria-live': 'polite' });
  const soldOut = h('span', { class: 'badge status-expired', hidden: true }, 'Sold out');

  const buy = buyForm({
    itemId: item.id, signal, cleanup, errorEl: error, slot: orderSlot,
    canBuy: () => open,
    onBusy: () => tick(),
  });

  let open = false;
  /** @type {boolean | null} */
  let wasOpen = null;
  function tick() {
    const left = startMs == null ? 0 : startMs - serverNow();
    open = left <= 0;
    if (wasOpen === false && open) announce.textContent = 'The sale is open. You can buy now.';
    wasOpen = open;
    const text = open ? 'On sale now' : `Opens in ${hms(left)}`;
    if (countdown.textContent !== text) countdown.textContent = text;
    countdownLabel.textContent = open ? 'The sale is open' : 'The sale opens soon';
    countdown.classList.toggle('open', open);
    buy.button.disabled = !open || buy.busy;
  }
  tick();
  const ticker = window.setInterval(tick, 250);
  cleanup(() => clearInterval(ticker));

  /** @param {number | null | undefined} n */
  function setLeft(n) {
    if (typeof n !== 'number') return;
    stockLeft.textContent = String(n);
    stockLeft.classList.toggle('sold-out', n === 0);
    soldOut.hidden = n !== 0;
  }
  // Units left: once from HTTP (fast), then live from the socket.
  api(`/api/stock/${encodeURIComponent(id)}`, { signal, redirect401: false })
    .then((s) => { if (stockLeft.textContent === '') setLeft(s.reservable ?? s.stock); })
    .catch(() => {});
  const stock = new LiveSocket({
    path: `/api/stock/${encodeURIComponent(id)}/ws`,
    onFrame(f) {
      if (f && f.type === 'stock' && (f.itemId == null || String(f.itemId) === String(item.id))) setLeft(f.left);
    },
    onStatus(s) {
      stockNote.textContent = s === 'connected' ? '● live' : s === 'offline' ? 'offline' : 'reconnecting…';
      stockNote.classList.toggle('on', s === 'connected');
    },
  });
  cleanup(() => stock.stop());

  const loginLink = h('a', {
    class: 'button primary big', href: '#/login',
    onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); goLogin(); },
  }, 'Log in to buy');

  mount(root,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Shop'), ' / ', h('a', { href: `#/items/${encodeURIComponent(id)}` }, item.name), ' / Flash sale'),
    h('section', { class: 'card sale' },
      thumb(item),
      h('div', { class: 'sale-body' },
        h('div', { class: 'row wrap' }, kindBadge(item), soldOut),
        h('h1', { class: 'sale-title' }, item.name),
        h('p', { class: 'price big-price' }, money(item.price)),
        h('div', { class: 'countdown-box' }, countdownLabel, countdown, announce),
        h('p', { class: 'stock-line' }, stockLeft, ' units left ', stockNote),
        me ? buy.el : h('div', { class: 'buy-form' }, loginLink),
        error)),
    orderSlot);

  // A pending order of this item (after a reload) comes back.
  if (me) {
    try {
      /** @type {any[]} */
      const orders = await api('/api/orders', { signal });
      const pending = orders
        .filter((o) => String(o.itemId) === String(item.id) && (o.status === 'PENDING_PAYMENT' || o.status === 'ACCEPTED'))
        .sort((a, b) => String(b.createdAt || '').localeCompare(String(a.createdAt || '')))[0];
      if (pending && !orderSlot.firstChild) buy.show(pending);
    } catch { /* not essential */ }
  }
}
