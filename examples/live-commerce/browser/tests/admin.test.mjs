// The admin page: an admin edits an item and handles the order queue's dead
// letters (inspect, replay, discard); a buyer has no way in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  api, assertClean, email, env, launch, logIn, onRoute, openPage, screenshot, signUp, until,
  visit,
} from './support.mjs';

test('an admin edits an item, inspects, replays and discards a dead letter', async () => {
  const browser = await launch();
  try {
    const page = await openPage(browser, env.a);
    page.on('dialog', (dialog) => dialog.accept());
    await logIn(page, env.adminEmail);
    const item = await api(page, 'POST', '/api/items', {
      name: 'Ceramic mug', kind: 'GENERAL', price: 1800, stock: 30, startAt: null,
    });
    await visit(page, '/admin', 'admin');
    const letters = page.getByTestId('dead-letter');
    await until('the dead letter listed', async () => (await letters.count()) >= 1);
    assert.match(await letters.first().textContent(), /poison-from-the-browser-test/);
    await screenshot(page, 'admin');

    await page.getByTestId('item-select').selectOption(String(item.id));
    await page.getByTestId('item-name').fill('Ceramic mug, speckled');
    await page.getByTestId('item-price').fill('2100');
    await page.getByTestId('item-save').click();
    await until('the edit confirmed', async () =>
      (await page.getByTestId('admin-message').textContent()).trim().length > 0);
    await until('the catalog serves the edit', async () => {
      const edited = await api(page, 'GET', `/api/items/${item.id}`);
      return edited.name === 'Ceramic mug, speckled' && edited.price === 2100;
    });

    // Replayed, the poison message fails again and comes back, failed later.
    const [before] = await api(page, 'GET', '/api/admin/dead-letters');
    await letters.first().getByTestId('replay').click();
    await until('the replay confirmed', async () =>
      /Replayed/.test(await page.getByTestId('admin-message').textContent()));
    await until('the replayed letter dead-lettered again', async () => {
      const listed = await api(page, 'GET', '/api/admin/dead-letters');
      return listed.length === 1 && listed[0].lastFailure !== before.lastFailure;
    });
    await visit(page, '/admin', 'admin');
    await until('the letter listed again', async () => (await letters.count()) === 1);
    await letters.first().getByTestId('discard').click();
    await until('the letter gone', async () => (await letters.count()) === 0);
    assert.deepEqual(await api(page, 'GET', '/api/admin/dead-letters'), []);
    assertClean(page);

    // A buyer sees no admin link, and the page refuses them.
    const buyer = await openPage(browser, env.a);
    await signUp(buyer, email('gina'));
    assert.equal(await buyer.getByRole('link', { name: 'Admin' }).count(), 0);
    const refused = await buyer.request.get('/api/admin/dead-letters');
    assert.equal(refused.status(), 403);
  } finally {
    await browser.close();
  }
});
