// Scenario 9 in a browser: the bell counts a notification that arrived
// while the page was open (pushed live) and one that arrived while the
// user had no page open (stored, counted when they come back); the list
// shows both and marks them read.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  adminPage, api, assertClean, email, env, launch, newPageIn, openPage, screenshot, signUp,
  sleep, textIs, until, visit,
} from './support.mjs';

test('the bell counts what came while the page was open and while the user was away', async () => {
  const browser = await launch();
  try {
    const admin = await adminPage(browser);
    const item = await api(admin, 'POST', '/api/items', {
      name: 'Studio headphones', kind: 'GENERAL', price: 12900, stock: 50, startAt: null,
    });

    const frank = await openPage(browser, env.a);
    await signUp(frank, email('frank'));
    await visit(frank, '/', 'catalog');
    await until('the bell shows no count', () => frank.getByTestId('bell-count').isHidden());
    await visit(frank, `/items/${item.id}`, 'item');
    await screenshot(frank, 'item');

    // While the page is open: an order is paid (from another tab, say).
    const order = await api(frank, 'POST', '/api/orders', { itemId: item.id, count: 1 });
    await api(frank, 'POST', `/api/orders/${order.orderId}/pay`, undefined, {
      'idempotency-key': randomUUID(),
    });
    await textIs(frank.getByTestId('bell-count'), '1');
    // Pushed and counted once: a moment later the bell still agrees with the server.
    await sleep(1500);
    await textIs(frank.getByTestId('bell-count'), '1');
    assert.equal((await api(frank, 'GET', '/api/notifications?limit=1')).unread, 1);

    // Away: no page open while the price drops.
    const context = frank.context();
    await frank.close();
    await api(admin, 'PUT', `/api/items/${item.id}`, {
      name: 'Studio headphones', kind: 'GENERAL', price: 9900, startAt: null,
    });

    const back = await newPageIn(context);
    await visit(back, '/', 'catalog');
    await textIs(back.getByTestId('bell-count'), '2');
    await back.getByTestId('bell').click();
    await visit(back, '/notifications', 'notifications');
    await until('both notifications listed', async () =>
      (await back.getByTestId('notification').count()) === 2);
    await screenshot(back, 'notifications');
    await back.getByTestId('mark-all-read').click();
    await until('the count gone', () => back.getByTestId('bell-count').isHidden());
    const left = await api(back, 'GET', '/api/notifications?unread=true');
    assert.equal(left.unread, 0, 'marked read on the server too');

    await visit(back, '/orders', 'orders');
    await screenshot(back, 'orders');
    assertClean(back);
  } finally {
    await browser.close();
  }
});
