// #/login: "Log in" and "Create account".

import { api, ApiError, setUser, takeNotice, takeReturnTo, user } from '../api.js';
import * as bell from '../bell.js';
import { describedBy, field, h, mount, say } from '../dom.js';

/** @param {import('../app.js').ViewContext} ctx */
export function render({ root }) {
  const notice = takeNotice();
  const noticeEl = h('div', { class: 'alert info', testid: 'auth-notice', role: 'status', 'aria-live': 'polite', hidden: !notice }, notice);

  const already = user();
  const loginForm = form('login', 'Log in', 'Log in', 'current-password');
  const signupForm = form('signup', 'Create account', 'Create account', 'new-password',
    'At least 12 characters; not a common password and not your email name.');

  loginForm.el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await loginForm.busy(async () => {
      await logIn(loginForm.email.value.trim(), loginForm.password.value);
    });
  });
  signupForm.el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await signupForm.busy(async () => {
      const email = signupForm.email.value.trim();
      const password = signupForm.password.value;
      await api('/api/auth/signup', { method: 'POST', body: { email, password }, redirect401: false });
      await logIn(email, password);
    });
  });

  mount(root,
    h('div', { class: 'auth' },
      h('h1', { class: 'page-title' }, 'Welcome'),
      noticeEl,
      already ? h('p', { class: 'alert info', role: 'status' }, `You are logged in as ${already.email}. `, h('a', { href: '#/' }, 'Go to the shop')) : null,
      h('div', { class: 'auth-grid' }, loginForm.card, signupForm.card)));
}

/** @param {string} email @param {string} password */
async function logIn(email, password) {
  const me = await api('/api/auth/login', { method: 'POST', body: { email, password }, redirect401: false });
  setUser(me);
  bell.start();
  location.hash = takeReturnTo();
}

/**
 * @param {'login'|'signup'} id @param {string} title @param {string} button
 * @param {string} autocomplete @param {string} [hint]
 */
function form(id, title, button, autocomplete, hint) {
  const email = /** @type {HTMLInputElement} */ (h('input', {
    id: `${id}-email`, name: 'email', type: 'email', required: true, autocomplete: 'email', testid: `${id}-email`,
  }));
  const password = /** @type {HTMLInputElement} */ (h('input', {
    id: `${id}-password`, name: 'password', type: 'password', required: true, autocomplete, testid: `${id}-password`,
    minlength: id === 'signup' ? 12 : null,
  }));
  const submit = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'button primary wide', testid: `${id}-submit` }, button));
  const error = h('p', { class: 'alert error', role: 'alert', hidden: true, id: `${id}-error` });
  const el = h('form', { class: 'stack', 'aria-labelledby': `${id}-title`, novalidate: true },
    field('Email', email),
    field('Password', password, hint),
    error,
    submit);
  // The error (and the password hint, via `field`) is read with the inputs.
  describedBy(email, error.id);
  describedBy(password, error.id);
  const card = h('section', { class: 'card' }, h('h2', { id: `${id}-title` }, title), el);
  return {
    el, card, email, password,
    /** @param {() => Promise<void>} fn */
    async busy(fn) {
      say(error, '');
      submit.disabled = true;
      try {
        await fn();
      } catch (e) {
        say(error, e instanceof ApiError || e instanceof Error ? e.message : String(e));
      } finally {
        submit.disabled = false;
      }
    },
  };
}
