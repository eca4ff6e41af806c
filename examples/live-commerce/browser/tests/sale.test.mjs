// Scenarios 1 and 10 in a browser: a flash sale opens on a countdown; a
// buyer waiting on the page buys the moment it opens, pays and is
// CONFIRMED; a second buyer does not pay, sees EXPIRED when the payment
// window ends, and both pages see the unit come back, live.

import { test } from 'node:test';
import {
  adminPage, api, assertClean, email, env, launch, openPage, PATIENCE, screenshot, signUp,
  textIs, until, visit,
} from './support.mjs';

const OPENS_IN_MS = 15_000;

test('countdown, buy at the start, pay: CONFIRMED; unpaid: EXPIRED and the stock returns', async () => {
  const browser = await launch();
  try {
    const admin = await adminPage(browser);
    const carol = await openPage(browser, env.a);
    await signUp(carol, email('carol'));
    // The sale is made now, so a slow sign-up cannot eat into the countdown.
    const startAt = new Date(Date.now() + OPENS_IN_MS).toISOString();
    const item = await api(admin, 'POST', '/api/items', {
      name: 'Aurora desk lamp', kind: 'TIME_DEAL', price: 4900, stock: 2, startAt,
    });
    await visit(carol, `/sale/${item.id}`, 'sale');
    await until('the countdown', async () =>
      /Opens in/i.test(await carol.getByTestId('countdown').textContent()));
    await textIs(carol.getByTestId('stock-left'), '2');
    await until('the buy button waits for the start', () => carol.getByTestId('buy').isDisabled());
    await screenshot(carol, 'flash-sale-countdown');

    // It opens without a reload.
    await until('the sale to open', () => carol.getByTestId('buy').isEnabled(), OPENS_IN_MS + PATIENCE);
    await carol.getByTestId('buy').click();
    await textIs(carol.getByTestId('order-status'), 'PENDING_PAYMENT');
    await textIs(carol.getByTestId('stock-left'), '1');
    await carol.getByTestId('pay').click();
    await textIs(carol.getByTestId('order-status'), 'CONFIRMED');

    const dave = await openPage(browser, env.b);
    await signUp(dave, email('dave'));
    await visit(dave, `/sale/${item.id}`, 'sale');
    await textIs(dave.getByTestId('stock-left'), '1');
    await dave.getByTestId('buy').click();
    await textIs(dave.getByTestId('order-status'), 'PENDING_PAYMENT');
    await textIs(dave.getByTestId('stock-left'), '0');
    await textIs(carol.getByTestId('stock-left'), '0', PATIENCE);
    await screenshot(dave, 'flash-sale-pending');

    // Dave does not pay: the window ends, the order expires, the unit returns.
    const expiry = env.paymentWindowMs + PATIENCE;
    await textIs(dave.getByTestId('order-status'), 'EXPIRED', expiry);
    await textIs(dave.getByTestId('stock-left'), '1', expiry);
    await textIs(carol.getByTestId('stock-left'), '1', PATIENCE);
    await textIs(carol.getByTestId('order-status'), 'CONFIRMED');
    await screenshot(carol, 'flash-sale-confirmed');
    await screenshot(dave, 'flash-sale-expired');
    await visit(carol, '/', 'catalog');
    await screenshot(carol, 'catalog');
    assertClean(carol);
    assertClean(dave);
  } finally {
    await browser.close();
  }
});
