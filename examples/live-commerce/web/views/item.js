// #/items/{id}: one item: price, kind, units left, Buy (when on sale now),
// and for a time deal the way to its sale page.

import { api, goLogin, serverNow, user } from '../api.js';
import { dateTime, h, money, mount } from '../dom.js';
import { kindBadge, thumb } from './catalog.js';
import { buyForm } from './orders.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render({ root, params, signal, cleanup }) {
  const id = params[0];
  mount(root, h('p', { class: 'muted' }, 'Loading…'));
  const [item, stock] = await Promise.all([
    api(`/api/items/${encodeURIComponent(id)}`, { signal }),
    api(`/api/stock/${encodeURIComponent(id)}`, { signal, redirect401: false }).catch(() => null),
  ]);
  // Count the view; nobody waits for it.
  api(`/api/items/${encodeURIComponent(id)}/views`, { method: 'POST', redirect401: false }).catch(() => {});

  const left = stock ? (stock.reservable ?? stock.stock) : null;
  const isDeal = item.kind === 'TIME_DEAL';
  const onSale = !isDeal || (item.startAt && new Date(item.startAt).getTime() <= serverNow());
  const saleHref = `#/sale/${encodeURIComponent(String(item.id))}`;
  const error = h('p', { class: 'alert error', role: 'alert', hidden: true });
  const orderSlot = h('div', { class: 'order-slot', 'aria-live': 'polite' });

  /** @type {HTMLElement | null} */
  let buyArea = null;
  if (onSale && user()) {
    buyArea = buyForm({ itemId: item.id, signal, cleanup, errorEl: error, slot: orderSlot }).el;
  } else if (onSale) {
    buyArea = h('div', { class: 'buy-form' }, h('a', {
      class: 'button primary big', href: '#/login',
      onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); goLogin(); },
    }, 'Log in to buy'));
  }

  mount(root,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Shop'), ' / ', item.name),
    h('section', { class: 'card sale' },
      thumb(item),
      h('div', { class: 'sale-body' },
        kindBadge(item),
        h('h1', { class: 'sale-title' }, item.name),
        h('p', { class: 'price big-price' }, money(item.price)),
        isDeal && item.startAt
          ? h('p', { class: 'start-line' }, onSale ? `On sale since ${dateTime(item.startAt)}` : `Opens ${dateTime(item.startAt)}`)
          : null,
        h('p', { class: 'stock-line' },
          left == null ? 'Stock unknown' : [h('strong', { class: 'stock-number', testid: 'item-stock' }, String(left)), ' units left']),
        buyArea,
        isDeal ? h('a', { class: `button${buyArea ? '' : ' primary big'}`, href: saleHref }, 'Go to the sale') : null,
        error)),
    orderSlot);
}
