// Small DOM and formatting helpers. Everything is built with
// createElement/textContent: server or user text never becomes markup.

/**
 * @typedef {string | number | Node | null | undefined | false | Child[]} Child
 */

/**
 * Creates an element. `attrs`: `class`, `testid` (data-testid), `dataset`,
 * `on<event>` functions (listeners), `value`/`checked` (properties), booleans
 * (present when true), anything else as an attribute.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (key === 'class') el.className = v;
    else if (key === 'testid') el.setAttribute('data-testid', v);
    else if (key === 'dataset') Object.assign(el.dataset, v);
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2).toLowerCase(), v);
    else if (key === 'value') value = v;
    else if (key === 'checked') /** @type {HTMLInputElement} */ (el).checked = !!v;
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) /** @type {HTMLInputElement} */ (el).value = String(value);
  return el;
}

/** @param {Node} parent @param {Child[]} children */
function append(parent, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces all children of `el`. @param {Element} el @param {...Child} children */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** `$12.34` from cents. @param {number} cents */
export function money(cents) {
  const n = Number(cents) || 0;
  const sign = n < 0 ? '-' : '';
  const abs = Math.abs(Math.round(n));
  return `${sign}$${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

/** `01:02:03` (hours may exceed 24). @param {number} ms */
export function hms(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
}

/** `02:05`. @param {number} ms */
export function mmss(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** A readable local date and time. @param {string | number | Date | null | undefined} t */
export function dateTime(t) {
  if (t == null) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Only the clock, for chat lines. @param {string | number | null | undefined} t */
export function clock(t) {
  if (t == null) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** The first 8 characters of an id. @param {string | number} id */
export function shortId(id) {
  const s = String(id);
  return s.length > 8 ? s.slice(0, 8) : s;
}

/** A status badge; its text is exactly the status. @param {string} status @param {Record<string, any>} [attrs] */
export function statusBadge(status, attrs = {}) {
  return h('span', { ...attrs, class: `badge status status-${String(status).toLowerCase().replace(/_/g, '-')}` }, status);
}

/**
 * A labelled field: `<label for>` then the control; the hint, if any,
 * describes the control (`aria-describedby`).
 * @param {string} label @param {HTMLElement} control @param {string} [hint]
 */
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  const hintId = `${control.id}-hint`;
  if (hint) describedBy(control, hintId);
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('small', { class: 'muted', id: hintId }, hint) : null);
}

/** Adds `id` to the control's `aria-describedby`. @param {HTMLElement} control @param {string} id */
export function describedBy(control, id) {
  const ids = (control.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
  if (!ids.includes(id)) control.setAttribute('aria-describedby', [...ids, id].join(' '));
}

/** Shows a message in an alert element (hidden when empty). @param {HTMLElement} el @param {string} [text] @param {'error'|'ok'} [kind] */
export function say(el, text = '', kind = 'error') {
  el.textContent = text;
  el.hidden = !text;
  el.classList.toggle('ok', kind === 'ok');
  el.classList.toggle('error', kind !== 'ok');
}
