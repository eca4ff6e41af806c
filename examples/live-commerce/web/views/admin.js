// #/admin: edit and create items; dead letters (replay, discard).

import { api, goLogin, serverNow, user } from '../api.js';
import { dateTime, field, h, money, mount, say } from '../dom.js';

/** RFC 3339 → the `datetime-local` value (local time, seconds). @param {string|null|undefined} iso */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A `datetime-local` value (local time) → RFC 3339 UTC. @param {string} value */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** @param {string} prefix @param {string} label */
function kindSelect(prefix, label) {
  const select = /** @type {HTMLSelectElement} */ (h('select', { id: `${prefix}-kind`, testid: `${prefix}-kind` },
    h('option', { value: 'GENERAL' }, 'General (always on sale)'),
    h('option', { value: 'TIME_DEAL' }, 'Time deal (flash sale)')));
  return { select, wrap: field(label, select) };
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render({ root, signal }) {
  const me = user();
  if (!me) {
    goLogin();
    return;
  }
  if (!me.admin) {
    mount(root, h('section', { class: 'card narrow center' },
      h('h1', null, 'Admins only'),
      h('p', { class: 'muted' }, 'This page is for administrators.')));
    return;
  }

  const message = h('p', { class: 'alert', testid: 'admin-message', role: 'status', 'aria-live': 'polite', hidden: true });
  /** @param {string} text @param {'ok'|'error'} [kind] */
  const tell = (text, kind = 'ok') => say(message, text, kind);
  /** @param {unknown} e */
  const fail = (e) => { if (!signal.aborted) tell(e instanceof Error ? e.message : String(e), 'error'); };

  // ---- edit an item ----
  /** @type {any[]} */
  let items = [];
  const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'item-select', testid: 'item-select' }));
  const name = /** @type {HTMLInputElement} */ (h('input', { id: 'item-name', testid: 'item-name', required: true, maxlength: 200 }));
  const kind = kindSelect('item', 'Kind');
  const price = /** @type {HTMLInputElement} */ (h('input', { id: 'item-price', testid: 'item-price', type: 'number', min: 0, step: 1, required: true, inputmode: 'numeric' }));
  const start = /** @type {HTMLInputElement} */ (h('input', { id: 'item-start', testid: 'item-start', type: 'datetime-local', step: 1 }));
  const startField = field('Start time (your local time)', start);
  const save = h('button', { type: 'submit', class: 'button primary', testid: 'item-save' }, 'Save changes');
  const editForm = h('form', { class: 'stack', 'aria-label': 'Edit item' },
    field('Item', select),
    field('Name', name),
    h('div', { class: 'form-row' }, kind.wrap, field('Price in cents', price, 'e.g. 1999 for $19.99')),
    startField,
    h('div', { class: 'row' }, save));
  const syncStart = () => { startField.hidden = kind.select.value !== 'TIME_DEAL'; };
  kind.select.addEventListener('change', syncStart);

  function fillEdit() {
    const item = items.find((i) => String(i.id) === select.value);
    if (!item) return;
    name.value = item.name;
    kind.select.value = item.kind;
    price.value = String(item.price);
    start.value = toLocalInput(item.startAt);
    syncStart();
  }
  select.addEventListener('change', fillEdit);

  /** @param {string|number} [pick] */
  async function loadItems(pick) {
    items = await api('/api/items', { signal });
    const keep = pick != null ? String(pick) : select.value;
    select.replaceChildren(...items.map((i) => h('option', { value: String(i.id) }, `#${i.id} ${i.name} (${money(i.price)})`)));
    if (keep && items.some((i) => String(i.id) === keep)) select.value = keep;
    editForm.hidden = items.length === 0;
    fillEdit();
  }

  /** Validates the shared fields; the body or null. @param {HTMLInputElement} n @param {HTMLSelectElement} k @param {HTMLInputElement} p @param {HTMLInputElement} s */
  function body(n, k, p, s) {
    const priceValue = Number(p.value);
    if (!n.value.trim()) return tell('Enter a name.', 'error'), null;
    if (p.value === '' || !Number.isInteger(priceValue) || priceValue < 0) return tell('The price is a whole number of cents.', 'error'), null;
    const startAt = k.value === 'TIME_DEAL' ? fromLocalInput(s.value) : null;
    if (k.value === 'TIME_DEAL' && !startAt) return tell('A time deal needs a start time.', 'error'), null;
    return { name: n.value.trim(), kind: k.value, price: priceValue, startAt };
  }

  editForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = body(name, kind.select, price, start);
    if (!b) return;
    try {
      await api(`/api/items/${encodeURIComponent(select.value)}`, { method: 'PUT', body: b, signal });
      const saved = select.value;
      await loadItems(saved);
      tell(`Saved item #${saved}.`);
    } catch (e) {
      fail(e);
    }
  });

  // ---- new item ----
  const newName = /** @type {HTMLInputElement} */ (h('input', { id: 'new-item-name', testid: 'new-item-name', required: true, maxlength: 200 }));
  const newKind = kindSelect('new-item', 'New item kind');
  newKind.select.value = 'TIME_DEAL';
  const newPrice = /** @type {HTMLInputElement} */ (h('input', { id: 'new-item-price', testid: 'new-item-price', type: 'number', min: 0, step: 1, inputmode: 'numeric' }));
  const newStock = /** @type {HTMLInputElement} */ (h('input', { id: 'new-item-stock', testid: 'new-item-stock', type: 'number', min: 0, step: 1, value: 100, inputmode: 'numeric' }));
  const newStart = /** @type {HTMLInputElement} */ (h('input', { id: 'new-item-start', testid: 'new-item-start', type: 'datetime-local', step: 1,
    value: toLocalInput(new Date(serverNow() + 2 * 60_000).toISOString()) }));
  const newStartField = field('New item start time', newStart);
  newKind.select.addEventListener('change', () => { newStartField.hidden = newKind.select.value !== 'TIME_DEAL'; });
  const create = h('button', { type: 'submit', class: 'button primary', testid: 'new-item-create' }, 'Create item');
  const newForm = h('form', { class: 'stack', 'aria-label': 'New item' },
    field('New item name', newName),
    h('div', { class: 'form-row' }, newKind.wrap, field('New item price in cents', newPrice)),
    h('div', { class: 'form-row' }, field('Initial stock', newStock), newStartField),
    h('div', { class: 'row' }, create));
  newForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = body(newName, newKind.select, newPrice, newStart);
    if (!b) return;
    const stock = Number(newStock.value);
    if (!Number.isInteger(stock) || stock < 0) return void tell('The stock is a whole number.', 'error');
    try {
      const created = await api('/api/items', { method: 'POST', body: { ...b, stock }, signal });
      newName.value = '';
      await loadItems(created.id);
      tell(`Created item #${created.id}: ${created.name}.`);
    } catch (e) {
      fail(e);
    }
  });

  // ---- dead letters ----
  const letters = h('div', { class: 'stack', 'aria-live': 'polite' });
  async function loadLetters() {
    /** @type {any[]} */
    const rows = await api('/api/admin/dead-letters?limit=50', { signal });
    if (rows.length === 0) {
      letters.replaceChildren(h('p', { class: 'empty', testid: 'dead-letters-empty' }, 'No dead letters'));
      return;
    }
    letters.replaceChildren(...rows.map(letter));
  }
  /** @param {any} d */
  function letter(d) {
    const id = String(d.id);
    /** @param {'replay'|'discard'} action */
    const act = async (action) => {
      const question = action === 'replay' ? `Replay dead letter ${id} to ${d.queue}?` : `Discard dead letter ${id}? It cannot be undone.`;
      if (!confirm(question)) return;
      try {
        if (action === 'replay') await api(`/api/admin/dead-letters/${encodeURIComponent(id)}/replay`, { method: 'POST', signal });
        else await api(`/api/admin/dead-letters/${encodeURIComponent(id)}`, { method: 'DELETE', signal });
        tell(action === 'replay' ? `Replayed dead letter ${id}.` : `Discarded dead letter ${id}.`);
      } catch (e) {
        fail(e);
      }
      await loadLetters().catch(fail);
    };
    return h('article', { class: 'card dead-letter', testid: 'dead-letter', dataset: { id } },
      h('div', { class: 'row between wrap' },
        h('h3', null, h('code', null, id)),
        h('span', { class: 'badge' }, d.queue)),
      h('dl', { class: 'facts' },
        h('dt', null, 'Failed in'), h('dd', null, String(d.failedIn ?? '—')),
        h('dt', null, 'Reason'), h('dd', null, String(d.reason ?? '—')),
        h('dt', null, 'Attempts'), h('dd', null, String(d.attempts ?? '—')),
        h('dt', null, 'First failure'), h('dd', null, dateTime(d.firstFailure) || '—'),
        h('dt', null, 'Last failure'), h('dd', null, dateTime(d.lastFailure) || '—')),
      h('details', null, h('summary', null, 'Payload'),
        h('pre', { class: 'payload' }, typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload, null, 2))),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'button small', testid: 'replay', onclick: () => act('replay') }, 'Replay'),
        h('button', { type: 'button', class: 'button small danger', testid: 'discard', onclick: () => act('discard') }, 'Discard')));
  }

  mount(root,
    h('h1', { class: 'page-title' }, 'Admin'),
    message,
    h('div', { class: 'admin-grid' },
      h('section', { class: 'card' }, h('h2', null, 'Edit an item'), editForm, h('p', { class: 'muted', hidden: true }, 'No items yet.')),
      h('section', { class: 'card' }, h('h2', null, 'New item'), newForm)),
    h('section', { class: 'dead-letters' },
      h('div', { class: 'row between' },
        h('h2', null, 'Dead letters'),
        h('button', { type: 'button', class: 'button small', onclick: () => loadLetters().catch(fail) }, 'Refresh')),
      letters));
  await Promise.all([loadItems().catch(fail), loadLetters().catch(fail)]);
}
