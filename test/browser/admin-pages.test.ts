import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 16 "Must show": a real browser (Debian's Chromium, headless, driven by playwright-core) opens
 * the API docs (Swagger UI at /docs) and the queue dashboard (/admin/queues, signing in as the first
 * admin by HTTP Basic) and finds the spawn queue. Every request the pages make goes to the replica
 * itself (assets are served locally), and neither page logs an error (a CSP refusal would).
 * CHROMIUM_PATH overrides /usr/bin/chromium; `.ci/run` installs Debian's `chromium`.
 */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(executablePath);
if (!hasChromium) console.warn(`test/browser: ${executablePath} not found (apt-get install chromium, or set CHROMIUM_PATH): browser tests skipped`);

let redis: TestRedis;
let w: AuthWorld;
let browser: Browser;

beforeAll(async () => {
  if (!hasChromium) return;
  redis = await startRedis();
  // the public address is another host: "Try it out" must still call the replica the page came from
  w = await startAuthWorld(redis.url, { SERVER_URL: 'https://maestro.example.com' });
  browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await w?.h.close();
  await redis?.stop();
});

/** A fresh browser context whose requests and console errors are recorded. */
async function open(credentials?: { username: string; password: string }) {
  const context = await browser.newContext(credentials ? { httpCredentials: credentials } : {});
  const page = await context.newPage();
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(w.h.base) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, foreign, errors };
}

describe.skipIf(!hasChromium)('in Chromium (issue 16)', () => {
  it('/docs shows the Swagger UI of the API, with its operations and both security schemes', async () => {
    const { context, page, foreign, errors } = await open();
    try {
      await page.goto(`${w.h.base}/docs`);
      expect(page.url()).toBe(`${w.h.base}/docs/`);
      await expect.poll(() => page.locator('.swagger-ui .info .title').textContent(), { timeout: 20_000 }).toContain('Maestro API');
      await page.locator('.opblock-summary-path[data-path="/api/v1/tasks/{id}"]').first().waitFor({ timeout: 10_000 });
      await page.locator('button.authorize').click();
      const dialog = page.locator('.auth-container');
      await expect.poll(() => dialog.allTextContents().then((t) => t.join(' ')), { timeout: 10_000 }).toMatch(/bearer[\s\S]*apiKey|apiKey[\s\S]*bearer/);
      // a client can use it: authorize with an API key, then "Try it out" on GET /api/v1/auth/me (this origin)
      const apiKeyForm = dialog.filter({ hasText: 'X-API-Key' });
      await apiKeyForm.locator('input').fill(w.adminKey);
      await apiKeyForm.locator('button.authorize').click();
      await page.locator('.modal-ux button.close-modal').click();
      const me = page.locator('.opblock', { has: page.locator('.opblock-summary-path[data-path="/api/v1/auth/me"]') }).first();
      await me.locator('.opblock-summary').click();
      await me.getByRole('button', { name: 'Try it out' }).click();
      const answered = page.waitForResponse((r) => r.url() === `${w.h.base}/api/v1/auth/me`);
      await me.getByRole('button', { name: 'Execute' }).click();
      const res = await answered;
      expect([res.status(), ((await res.json()) as { admin: boolean }).admin]).toEqual([200, true]);
      await expect.poll(() => me.locator('.live-responses-table tbody .response-col_status').first().textContent(), { timeout: 10_000 }).toContain('200');
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('/admin/queues asks for a sign-in, then lists the spawn and maintenance queues for the first admin', async () => {
    const anon = await open();
    try {
      // headless Chromium has no one to ask: a Basic challenge without credentials fails the navigation
      await expect(anon.page.goto(`${w.h.base}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    } finally {
      await anon.context.close();
    }
    const admin = JSON.parse(readFileSync(w.credentialsFile, 'utf8')) as { email: string; password: string };
    const { context, page, foreign, errors } = await open({ username: admin.email, password: admin.password });
    try {
      const res = await page.goto(`${w.h.base}/admin/queues`);
      expect(res?.status()).toBe(200);
      await expect.poll(() => page.locator('body').innerText(), { timeout: 20_000 }).toContain('spawn');
      expect(await page.locator('body').innerText()).toContain('maintenance');
      await page.getByText('spawn', { exact: true }).first().click();
      await expect.poll(() => page.url(), { timeout: 10_000 }).toContain('/admin/queues/queue/spawn');
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
