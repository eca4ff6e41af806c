// "Log out everywhere": one device ends every session of the user; the
// other device, open on the live room through another gateway and chat
// instance, is sent back to the log-in page and its sockets close.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertClean, email, env, launch, onRoute, openPage, PATIENCE, screenshot, signUp, textIs,
  until, visit,
} from './support.mjs';

/** Logs in by label and keyboard alone: Tab between the fields, Enter submits. */
async function logInWithTheKeyboard(page, who) {
  await visit(page, '/login', 'login');
  const form = page.getByRole('form', { name: 'Log in' });
  await form.getByLabel('Email').focus();
  await page.keyboard.type(who);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'password');
  await page.keyboard.type(env.password);
  await page.keyboard.press('Enter');
  await textIs(page.getByTestId('user-email'), who);
}

test('"log out everywhere" sends the other device to log-in and closes its socket', async () => {
  const browser = await launch();
  try {
    const erin = email('erin');
    const laptop = await openPage(browser, env.a);
    const phone = await openPage(browser, env.b);
    // Every socket the phone opens, from the first (the bell's feed) on.
    const sockets = [];
    phone.on('websocket', (socket) => {
      const tracked = { url: socket.url(), closed: false };
      socket.on('close', () => { tracked.closed = true; });
      sockets.push(tracked);
    });
    await signUp(laptop, erin);
    await logInWithTheKeyboard(phone, erin);
    await visit(phone, '/live/launch', 'live');
    await textIs(phone.getByTestId('chat-status'), 'connected');
    const open = (path) => sockets.filter((s) => s.url.includes(path) && !s.closed);
    await until('the room and the feed sockets open', () =>
      open('/api/chat/rooms/live.launch/ws').length === 1 && open('/api/notifications/ws').length === 1);

    await laptop.getByTestId('logout-all').click();
    await onRoute(laptop, 'login');

    await onRoute(phone, 'login');
    await until('the notice on the other device', async () =>
      (await phone.getByTestId('auth-notice').textContent()).trim().length > 0);
    await until('every socket of the other device closed', async () =>
      sockets.length > 0 && sockets.every((s) => s.closed), PATIENCE);
    await screenshot(phone, 'signed-out');

    // The session is gone for the server too, not just hidden by the page.
    const me = await phone.request.get('/api/auth/me');
    assert.equal(me.status(), 401);
    assertClean(laptop);
    assertClean(phone);
  } finally {
    await browser.close();
  }
});
