// #/notifications: newest first, unread marked, mark read, load more, live.

import { api, goLogin, user } from '../api.js';
import * as bell from '../bell.js';
import { dateTime, h, mount, say, shortId } from '../dom.js';

/** @typedef {import('../bell.js').Notification} Notification */

/** What a notification says, with a link when there is somewhere to go. @param {Notification} n */
export function describe(n) {
  const p = n.payload || {};
  switch (n.kind) {
    case 'order-confirmed':
      return {
        text: `Order #${shortId(p.orderId)} confirmed: ${p.quantity ?? ''} × ${p.itemName ?? `item #${p.itemId}`}`,
        href: '#/orders', link: 'My orders',
      };
    case 'order-expired':
      return {
        text: `Order #${shortId(p.orderId)} expired: the payment window for ${p.quantity ?? ''} × item #${p.itemId} ended.`,
        href: p.itemId != null ? `#/items/${encodeURIComponent(String(p.itemId))}` : '#/orders', link: 'View item',
      };
    case 'price-drop':
      return {
        text: `Price drop on ${p.itemName ?? `item #${p.itemId}`}.`,
        href: p.itemId != null ? `#/items/${encodeURIComponent(String(p.itemId))}` : null, link: 'See the new price',
      };
    case 'mention': {
      const room = String(p.room ?? '');
      const live = room.startsWith('live.') ? room.slice(5) : '';
      return {
        text: `${p.from ?? 'Someone'} mentioned you in ${room || 'a chat'}: “${p.text ?? ''}”`,
        href: live ? `#/live/${encodeURIComponent(live)}` : null, link: 'Open the chat',
      };
    }
    default:
      return { text: `Notification: ${n.kind}`, href: null, link: '' };
  }
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render({ root, signal, cleanup }) {
  if (!user()) {
    goLogin();
    return;
  }
  const message = h('p', { class: 'alert error', role: 'alert', hidden: true });
  const list = h('ul', { class: 'notifications', role: 'list', 'aria-live': 'polite' });
  const emptyState = h('p', { class: 'card empty', hidden: true }, 'No notifications yet.');
  const more = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'button', hidden: true, testid: 'load-more' }, 'Load more'));
  const markAll = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'button small', testid: 'mark-all-read' }, 'Mark all read'));
  /** @type {string | number | null} */
  let next = null;
  /** @type {Set<string>} */
  const seen = new Set();

  /**
   * Adds a notification once: at the end (pages), on top (new ones) or in
   * its `createdAt` place, newest first (ones replayed after a reconnect).
   * @param {Notification} n @param {'end'|'top'|'sorted'} [at]
   */
  function add(n, at = 'end') {
    const key = String(n.id);
    if (seen.has(key)) return;
    /** @type {Element | null} */
    let before = null;
    if (at === 'sorted') {
      const t = Date.parse(n.createdAt);
      before = [...list.children].find((el) => Date.parse(el.getAttribute('data-created-at') || '') < t) ?? null;
      // Older than all shown while more pages exist: "Load more" brings it, in its place.
      if (!before && next != null) return;
    }
    seen.add(key);
    const d = describe(n);
    const unread = !n.readAt;
    const li = h('li', {
      class: `card notification${unread ? ' unread' : ''}`, testid: 'notification',
      dataset: { id: key, kind: n.kind, createdAt: n.createdAt },
    });
    const markButton = unread
      ? h('button', { type: 'button', class: 'button small ghost', testid: 'mark-read', onclick: () => markRead(n, li) }, 'Mark read')
      : null;
    li.append(
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('div', { class: 'notification-body' },
        h('p', { class: 'notification-text' }, unread ? h('span', { class: 'visually-hidden' }, 'Unread: ') : null, d.text),
        h('p', { class: 'muted small-text' },
          h('time', { datetime: n.createdAt }, dateTime(n.createdAt)),
          d.href ? [' · ', h('a', { href: d.href }, d.link)] : null)),
      markButton ?? '');
    if (at === 'top') list.prepend(li);
    else list.insertBefore(li, before);
    emptyState.hidden = true;
  }

  /** @param {Notification} n @param {HTMLElement} li */
  async function markRead(n, li) {
    say(message, '');
    try {
      await api(`/api/notifications/${encodeURIComponent(String(n.id))}/read`, { method: 'POST', signal });
      setRead(li);
      bell.setUnread(bell.count() - 1);
      bell.refresh();
    } catch (e) {
      if (!signal.aborted) say(message, e instanceof Error ? e.message : String(e));
    }
  }

  /** @param {Element} li */
  function setRead(li) {
    li.classList.remove('unread');
    li.querySelector('[data-testid="mark-read"]')?.remove();
    li.querySelector('.visually-hidden')?.remove();
  }

  async function load(reset = false) {
    const qs = new URLSearchParams({ limit: '20' });
    if (!reset && next != null) qs.set('before', String(next));
    more.disabled = true;
    try {
      const page = await api(`/api/notifications?${qs}`, { signal });
      if (reset) {
        list.replaceChildren();
        seen.clear();
      }
      for (const n of page.items || []) add(n);
      next = page.next ?? null;
      more.hidden = next == null;
      emptyState.hidden = list.children.length > 0;
      if (typeof page.unread === 'number') bell.setUnread(page.unread);
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener('click', () => load().catch((e) => say(message, e.message)));
  markAll.addEventListener('click', async () => {
    say(message, '');
    markAll.disabled = true;
    try {
      await api('/api/notifications/read-all', { method: 'POST', signal });
      for (const li of list.querySelectorAll('.notification.unread')) setRead(li);
      bell.setUnread(0);
      bell.refresh();
    } catch (e) {
      if (!signal.aborted) say(message, e instanceof Error ? e.message : String(e));
    } finally {
      markAll.disabled = false;
    }
  });
  // Replayed ones were pushed while the feed was reconnecting (or are history
  // the list may already hold): add those missing, in order, as they are.
  cleanup(bell.onNotification((n, replayed) => {
    if (replayed) add(n, 'sorted');
    else add({ ...n, readAt: null }, 'top');
  }));

  mount(root,
    h('div', { class: 'row between wrap page-head' },
      h('h1', { class: 'page-title' }, 'Notifications'),
      markAll),
    message,
    emptyState,
    list,
    h('div', { class: 'center' }, more));
  await load(true);
}
