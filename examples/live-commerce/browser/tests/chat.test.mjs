// Scenario 6 in a browser: two people, each behind a gateway that sends
// sockets to a different chat instance, talk in a live room; one of them
// drops off the network, comes back, and has missed nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertClean, email, env, launch, openPage, screenshot, signUp, textIs, until, visit,
} from './support.mjs';

/** The texts and offsets of the messages the page shows, in order. */
async function shown(page) {
  return page.$$eval('[data-testid="chat-message"]', (messages) => messages.map((m) => ({
    offset: Number(m.dataset.offset),
    text: m.querySelector('[data-testid="chat-text"]').textContent.trim(),
  })));
}

async function say(page, text) {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
}

async function sees(page, text) {
  await until(`"${text}" on the page`, async () => (await shown(page)).some((m) => m.text === text));
}

test('users on two chat instances talk, and one who drops off misses nothing', async () => {
  const browser = await launch();
  try {
    const ann = await openPage(browser, env.a);
    const bob = await openPage(browser, env.b);
    await signUp(ann, email('ann'));
    await signUp(bob, email('bob'));
    await visit(ann, '/live/launch', 'live');
    await visit(bob, '/live/launch', 'live');
    await textIs(ann.getByTestId('chat-status'), 'connected');
    await textIs(bob.getByTestId('chat-status'), 'connected');

    await say(ann, 'hello from instance A');
    await sees(bob, 'hello from instance A');
    await bob.getByTestId('chat-input').fill('hi ann, bob on instance B');
    await bob.getByTestId('chat-send').click();
    await sees(ann, 'hi ann, bob on instance B');
    await until('both people counted as watching', async () =>
      /\b2\b/.test(await bob.getByTestId('presence').textContent()));

    // Bob's network goes away; the page says so, and Ann keeps talking.
    await bob.context().setOffline(true);
    await textIs(bob.getByTestId('chat-status'), 'offline');
    const whileAway = [1, 2, 3, 4, 5].map((n) => `while you were away ${n}`);
    for (const text of whileAway) await say(ann, text);
    await sees(ann, whileAway.at(-1));
    assert.ok(!(await shown(bob)).some((m) => whileAway.includes(m.text)), 'offline means offline');

    // Back online: the page resumes after the last offset it saw.
    await bob.context().setOffline(false);
    await textIs(bob.getByTestId('chat-status'), 'connected');
    await sees(bob, whileAway.at(-1));
    await say(bob, 'back, read everything');
    await sees(ann, 'back, read everything');
    await sees(bob, 'back, read everything');

    const [annSees, bobSees] = [await shown(ann), await shown(bob)];
    assert.deepEqual(bobSees, annSees, 'both see the same messages in the same order');
    const offsets = bobSees.map((m) => m.offset);
    assert.deepEqual(offsets, offsets.map((_, i) => i + 1), 'every offset once, none missing');
    assert.equal(bobSees.length, 8);

    // Someone joining now gets the room's recent history, then live.
    const cleo = await openPage(browser, env.a);
    await signUp(cleo, email('cleo'));
    await visit(cleo, '/live/launch', 'live');
    await textIs(cleo.getByTestId('chat-status'), 'connected');
    await until('the history on join', async () => (await shown(cleo)).length === 8);
    assert.deepEqual(await shown(cleo), annSees, 'the same history as the others saw live');
    await until('three people watching', async () =>
      /\b3\b/.test(await cleo.getByTestId('presence').textContent()));

    await screenshot(bob, 'live-room');
    assertClean(ann);
    assertClean(bob);
    assertClean(cleo);
  } finally {
    await browser.close();
  }
});
