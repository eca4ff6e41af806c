// #/: the catalog.

import { api, serverNow } from '../api.js';
import { dateTime, h, money, mount } from '../dom.js';

/** @typedef {{id: number|string, name: string, kind: 'GENERAL'|'TIME_DEAL', price: number, startAt: string|null}} Item */

/** @param {import('../app.js').ViewContext} ctx */
export async function render({ root, signal }) {
  mount(root, h('p', { class: 'muted' }, 'Loading the catalog…'));
  /** @type {Item[]} */
  const items = await api('/api/items', { signal });
  mount(root,
    h('section', { class: 'hero' },
      h('div', null,
        h('h1', null, 'Shop the drop'),
        h('p', null, 'Flash sales open on the second. Watch the launch live and chat with everyone waiting.')),
      h('a', { class: 'button primary', href: '#/live/launch' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Watch live')),
    h('h2', { class: 'section-title' }, `All items (${items.length})`),
    items.length === 0
      ? h('p', { class: 'empty' }, 'No items yet.')
      : h('ul', { class: 'grid', role: 'list' }, items.map((item) => h('li', null, card(item)))));
}

/** A coloured tile standing in for a product photo. @param {Item} item */
export function thumb(item) {
  const el = h('div', { class: 'thumb', 'aria-hidden': 'true' }, (item.name || '?').trim().charAt(0).toUpperCase());
  const hue = (Number(item.id) * 67) % 360;
  el.style.background = `linear-gradient(135deg, hsl(${hue} 80% 92%), hsl(${(hue + 40) % 360} 75% 82%))`;
  el.style.color = `hsl(${hue} 55% 32%)`;
  return el;
}

/** The kind badge: "Flash sale" or "Always on". @param {Item} item */
export function kindBadge(item) {
  return item.kind === 'TIME_DEAL'
    ? h('span', { class: 'badge flash' }, 'Flash sale')
    : h('span', { class: 'badge' }, 'Always on');
}

/** "Opens Dec 7, 21:00:00" / "On sale now" for a time deal. @param {Item} item */
export function startLine(item) {
  if (item.kind !== 'TIME_DEAL' || !item.startAt) return null;
  const open = new Date(item.startAt).getTime() <= serverNow();
  return h('p', { class: 'start-line' }, open ? 'On sale now' : `Opens ${dateTime(item.startAt)}`);
}

/** @param {Item} item */
function card(item) {
  const href = `#/items/${encodeURIComponent(String(item.id))}`;
  return h('article', { class: 'card item-card' },
    thumb(item),
    h('div', { class: 'item-card-body' },
      h('div', { class: 'row between' }, kindBadge(item), h('span', { class: 'price' }, money(item.price))),
      h('h3', { class: 'item-name' }, h('a', { href }, item.name)),
      startLine(item),
      h('div', { class: 'row actions' },
        h('a', { class: 'button small', href, 'aria-label': `Details of ${item.name}` }, 'Details'),
        item.kind === 'TIME_DEAL'
          ? h('a', { class: 'button small primary', href: `#/sale/${encodeURIComponent(String(item.id))}` }, 'Go to the sale')
          : null)));
}
