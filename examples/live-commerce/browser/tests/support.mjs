// Shared by the browser tests: the system's addresses (from tests/browser.rs),
// a chromium per test file, pages logged in through the UI, screenshots at
// desktop and phone width, and waiting for what a person would see.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these through tests/browser.rs`);
  return value;
}

/** Where the system is, as tests/browser.rs started it. */
export const env = {
  /** A gateway in front of chat instance A. */
  a: required('GATEWAY_A'),
  /** A gateway in front of chat instance B (same auth, catalog, orders). */
  b: required('GATEWAY_B'),
  adminEmail: required('ADMIN_EMAIL'),
  password: required('PASSWORD'),
  paymentWindowMs: Number(required('PAYMENT_WINDOW_MS')),
  screenshots: required('SCREENSHOTS'),
};

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** How long a person would wait for a page to react. */
export const PATIENCE = 20_000;

/** Debian's chromium, headless. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // The sandbox needs privileges a CI container (running as root) lacks.
    args: ['--no-sandbox'],
  });
}

/** The email of `name` (each test file uses its own names; every run has a fresh database). */
export function email(name) {
  return `${name}@shop.example`;
}

/**
 * A new browser context (its own cookies: another person, or another device)
 * on gateway `base`, and a page in it. Uncaught page errors and CSP
 * violations are collected; `assertClean(page)` fails the test on any.
 */
export async function openPage(browser, base, viewport = DESKTOP) {
  const context = await browser.newContext({ baseURL: base, viewport });
  return newPageIn(context);
}

/** A page in an existing context (the same person, another tab). */
export async function newPageIn(context) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      page.problems.push(`CSP: ${message.text()}`);
    }
  });
  return page;
}

/** No uncaught error and no CSP violation happened on `page`. */
export function assertClean(page) {
  assert.deepEqual(page.problems, [], 'the page ran without errors');
}

/** Waits until the app rendered route `name` (`<body data-route>`). */
export async function onRoute(page, name) {
  await page.waitForSelector(`body[data-route="${name}"]`, { timeout: PATIENCE });
}

/** Opens `#/path` and waits for route `name`. */
export async function visit(page, path, name) {
  await page.goto(`/#${path}`);
  await onRoute(page, name);
}

/** Signs `who` up through the log-in page; they end up logged in. */
export async function signUp(page, who) {
  await visit(page, '/login', 'login');
  await page.getByTestId('signup-email').fill(who);
  await page.getByTestId('signup-password').fill(env.password);
  await page.getByTestId('signup-submit').click();
  await textIs(page.getByTestId('user-email'), who);
}

/** Logs `who` in through the log-in page. */
export async function logIn(page, who) {
  await visit(page, '/login', 'login');
  await page.getByTestId('login-email').fill(who);
  await page.getByTestId('login-password').fill(env.password);
  await page.getByTestId('login-submit').click();
  await textIs(page.getByTestId('user-email'), who);
}

/** Waits until `locator`'s text (trimmed) is `expected`. */
export async function textIs(locator, expected, timeout = PATIENCE) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = (await locator.first().textContent({ timeout }).catch(() => null))?.trim();
    if (last === expected) return;
    await sleep(100);
  }
  assert.fail(`waited ${timeout} ms for "${expected}", the page shows "${last}"`);
}

/** Waits until `probe()` is truthy; fails with `what` after `timeout`. */
export async function until(what, probe, timeout = PATIENCE) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(100);
  }
  assert.fail(`waited ${timeout} ms for ${what}`);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A JSON API call with `page`'s cookies (Playwright's request context, not
 * a browser fetch: for setting the scene, never for what is under test).
 */
export async function api(page, method, path, body, headers = {}) {
  const response = await page.request.fetch(path, {
    method,
    data: body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  const json = await response.json().catch(() => null);
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${JSON.stringify(json)}`);
  return json.data;
}

/** A context logged in as the admin (through the API: the scene, not the test). */
export async function adminPage(browser, base = env.a) {
  const page = await openPage(browser, base);
  await api(page, 'POST', '/api/auth/login', { email: env.adminEmail, password: env.password });
  return page;
}

/** Screenshots of `page` at desktop and phone width, as `docs/ui/<name>-*.png`. */
export async function screenshot(page, name) {
  mkdirSync(env.screenshots, { recursive: true });
  const size = page.viewportSize();
  for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(viewport);
    await sleep(250);
    await page.screenshot({ path: join(env.screenshots, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}
