// #/live/{name}: the live room: stream placeholder, presence, chat with
// resume (offset/epoch), status and offline handling.

import { api, ApiError, goLogin, signalSignedOut, user } from '../api.js';
import { clock, h, mount, shortId } from '../dom.js';
import { LiveSocket } from '../socket.js';

const MAX_MESSAGES = 300;
const MAX_TEXT = 1000;

/** @param {string} name */
function title(name) {
  return name.replace(/[-_]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}

/** @param {import('../app.js').ViewContext} ctx */
export function render({ root, params, cleanup }) {
  const name = params[0];
  const room = `live.${name}`;
  const me = user();

  // The presence endpoint needs a login: logged out, the badge stays hidden.
  const presence = h('span', { class: 'presence', testid: 'presence', 'aria-live': 'polite', hidden: !me }, '… watching');
  const stream = h('section', { class: 'stream', 'aria-label': 'Live stream' },
    h('span', { class: 'live-badge' }, 'LIVE'),
    h('div', { class: 'stream-center' },
      h('div', { class: 'play', 'aria-hidden': 'true' }),
      h('h1', { class: 'stream-title' }, title(name)),
      h('p', null, 'The stream starts here. Chat with everyone watching.')),
    h('div', { class: 'stream-foot' }, presence));

  // Presence: every 5 s (and shortly after the chat connects). One chain
  // only: `presenceTimer` is the single pending timer, and a call that finds
  // a request in flight leaves the rescheduling to it.
  let presenceTimer = 0;
  let presenceBusy = false;
  let stopped = false;
  async function refreshPresence() {
    clearTimeout(presenceTimer);
    if (stopped || presenceBusy) return;
    presenceBusy = true;
    try {
      const p = await api(`/api/chat/rooms/${encodeURIComponent(room)}/presence`, { redirect401: false });
      const n = Number(p.watching) || 0;
      presence.textContent = `${n} watching`;
    } catch { /* keep the last number */ }
    presenceBusy = false;
    if (!stopped) {
      clearTimeout(presenceTimer);
      presenceTimer = window.setTimeout(refreshPresence, 5000);
    }
  }
  cleanup(() => {
    stopped = true;
    clearTimeout(presenceTimer);
  });

  if (!me) {
    mount(root,
      h('div', { class: 'live-layout' },
        stream,
        h('section', { class: 'card chat' },
          h('h2', null, 'Live chat'),
          h('p', { class: 'muted' }, 'Log in to read and join the chat.'),
          h('a', { class: 'button primary', href: '#/login', onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); goLogin(); } }, 'Log in to chat'))));
    return;
  }

  const status = h('span', { class: 'chat-status', testid: 'chat-status', role: 'status' }, 'connecting…');
  const notice = h('p', { class: 'chat-notice', 'aria-live': 'polite', hidden: true });
  const flash = h('p', { class: 'alert error chat-flash', role: 'alert', hidden: true });
  const list = h('ol', { class: 'chat-messages', testid: 'chat-messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Chat messages', tabindex: 0 });
  const empty = h('li', { class: 'chat-empty muted' }, 'No messages yet. Say hello!');
  list.appendChild(empty);
  const input = /** @type {HTMLInputElement} */ (h('input', {
    id: 'chat-input', type: 'text', testid: 'chat-input', maxlength: MAX_TEXT, autocomplete: 'off', placeholder: 'Say something…',
  }));
  const send = h('button', { type: 'submit', class: 'button primary', testid: 'chat-send' }, 'Send');
  const form = h('form', { class: 'chat-form' },
    h('label', { for: 'chat-input', class: 'visually-hidden' }, 'Message'),
    input, send);

  /** @type {number} */
  let flashTimer = 0;
  /** @param {string} text */
  function showFlash(text) {
    flash.textContent = text;
    flash.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = window.setTimeout(() => { flash.hidden = true; }, 4000);
  }
  /** @param {string} text */
  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }
  function toBottom() {
    list.scrollTop = list.scrollHeight;
  }

  /** @param {any} f */
  function addMessage(f) {
    const p = f.payload || {};
    const offset = String(f.offset);
    if (list.querySelector(`[data-offset="${CSS.escape(offset)}"]`)) return;
    const stick = nearBottom();
    const own = p.from != null && String(p.from) === String(me?.userId);
    const author = p.name || (p.from != null ? `user ${shortId(p.from)}` : 'someone');
    const li = h('li', { class: `chat-message${own ? ' own' : ''}`, testid: 'chat-message', dataset: { offset } },
      h('div', { class: 'chat-meta' },
        h('span', { class: 'chat-author' }, author),
        own ? h('span', { class: 'you' }, 'you') : null,
        h('time', { datetime: p.at || null, class: 'muted' }, clock(p.at))),
      h('p', { class: 'chat-text', testid: 'chat-text' }, String(p.text ?? '')));
    empty.remove();
    list.appendChild(li);
    while (list.children.length > MAX_MESSAGES) list.firstElementChild?.remove();
    if (stick || own) toBottom();
  }

  refreshPresence();
  const socket = new LiveSocket({
    path: `/api/chat/rooms/${encodeURIComponent(room)}/ws`,
    // The server sends the room's recent history on join, then resumes
    // from the last offset seen on every reconnect.
    resume: true,
    onFrame(f) {
      if (!f) return;
      if (f.type === 'message') addMessage(f);
      else if (f.type === 'live') {
        toBottom();
      } else if (f.type === 'incomplete') showNotice('Some earlier messages are no longer available.');
      else if (f.type === 'error') showFlash(f.message || f.code || 'The message was not sent.');
    },
    onStatus(s) {
      status.textContent = s === 'connected' ? 'connected' : s === 'offline' ? 'offline' : s === 'connecting' ? 'connecting…' : s === 'closed' ? 'disconnected' : 'reconnecting…';
      status.dataset.state = s;
    },
    onOpen() {
      // Replaces the pending 5 s timer (same chain), so it stops with the view.
      clearTimeout(presenceTimer);
      presenceTimer = window.setTimeout(refreshPresence, 1000);
    },
    onReset() {
      list.replaceChildren(empty);
    },
    onNotice: showNotice,
    onRevoked() {
      signalSignedOut();
    },
    async onFailing() {
      // A refused upgrade (401) looks like any failure: ask who we are.
      try {
        await api('/api/auth/me');
      } catch (e) {
        if (!(e instanceof ApiError)) console.warn(e);
      }
    },
  });
  cleanup(() => {
    socket.stop();
    clearTimeout(flashTimer);
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      showFlash(`Messages are at most ${MAX_TEXT} characters.`);
      return;
    }
    if (socket.send(JSON.stringify({ text }))) {
      input.value = '';
      toBottom();
    } else {
      showFlash('Not connected; the message was not sent.');
    }
    input.focus();
  });

  mount(root,
    h('div', { class: 'live-layout' },
      stream,
      h('section', { class: 'card chat', 'aria-label': 'Live chat' },
        h('div', { class: 'row between chat-head' }, h('h2', null, 'Live chat'), status),
        notice,
        list,
        flash,
        form)));
}
