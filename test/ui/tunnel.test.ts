import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Route } from 'playwright-core';
import { WebSocket } from 'ws';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { connectClient, issue } from '../tunnel/helpers.ts';
import { buildUi, chromiumMissing, launch, openPage } from './browser.ts';

const SCREENSHOT = '/tmp/hookah-notes/tunnel-view.png';
const USER_AGENT = 'dashboard-e2e/1.0 (raw ws)';
const LISTING = /\/admin\/tunnel\/channels(\?|$)/;

/** A bare WebSocket tunnel client that sends a user agent; resolves once the server accepted it. */
function rawClient(wsUrl: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { 'x-hookah-channel-token': token, 'user-agent': USER_AGENT }, handshakeTimeout: 10_000 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
  });
}

function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
}

describe('dashboard tunnel view in headless Chromium', { skip: chromiumMissing, timeout: 180_000 }, () => {
  let browser: Browser;
  let hookah: TestHookah;
  let sink: Sink;

  before(async () => {
    buildUi();
    browser = await launch();
    hookah = await startTestHookah();
    sink = await startSink();
  });
  after(async () => {
    await browser?.close();
    await hookah?.close();
    await sink?.close();
  });

  test('lists channels, and shows tunnel clients as they connect and disconnect', async () => {
    const { page, problems, close } = await openPage(browser);
    const clients: { close(): Promise<void> }[] = [];
    try {
      await page.goto(`${hookah.url}/ui/#/tunnel`);
      await page.getByText('No tunnel channels', { exact: false }).waitFor();
      await page.getByTestId('tunnel-mode').getByText('balance').waitFor();

      // Two channels: one a client will use, one idle with a request queued for it.
      const used = await issue(hookah.url);
      const idle = await issue(hookah.url);
      const queued = await fetch(`${idle.webhook_url}/orders`, { method: 'POST', body: 'waiting for a client' });
      assert.equal(queued.status, 202);
      await queued.arrayBuffer();

      const usedRows = page.locator(`[data-testid=tunnel-table] tbody[data-channel="${used.channel}"]`);
      const idleRows = page.locator(`[data-testid=tunnel-table] tbody[data-channel="${idle.channel}"]`);
      await usedRows.waitFor();
      await idleRows.getByTestId('queued').getByText('1 ·', { exact: false }).waitFor();
      assert.match(await idleRows.getByTestId('expiry').innerText(), /^in \d+ d$/);
      assert.match(await usedRows.getByTestId('client-count').innerText(), /none/);

      // The real tunnel client connects: its channel moves first and never expires.
      const client = await connectClient({ serverUrl: hookah.url, targetUrl: sink.url, channel: used.channel, token: used.token });
      clients.push(client);
      await usedRows.locator('tr[data-client]').first().waitFor();
      await usedRows.getByTestId('expiry').getByText('connected — never expires').waitFor();
      assert.equal(await page.locator('[data-testid=tunnel-table] tbody').first().getAttribute('data-channel'), used.channel);
      const first = usedRows.locator('tr[data-client]').first();
      assert.match(await first.innerText(), /127\.0\.0\.1/);
      assert.match(await first.innerText(), /hookah-client\//);

      // A second client on the same channel, which names itself.
      const raw = await rawClient(used.ws_url, used.token);
      clients.push({ close: () => closed(raw) });
      const named = usedRows.locator('tr[data-client]', { hasText: USER_AGENT });
      await named.waitFor();
      await usedRows.getByTestId('client-count').getByText('2 connected').waitFor();
      assert.match(await named.innerText(), /127\.0\.0\.1/);
      await page.getByTestId('tunnel-summary').getByText('2 channels · 1 with clients · 2 clients connected', { exact: false }).waitFor();
      // The overview (polled for the header) counts them in the tab too.
      await page.getByRole('link', { name: /^Tunnel/ }).locator('.count').getByText('2', { exact: true }).waitFor();
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // Disconnects show without a reload: first the named client, then the last one.
      await closed(raw);
      await named.waitFor({ state: 'detached' });
      await usedRows.getByTestId('client-count').getByText('1 connected').waitFor();
      await client.close();
      await page.locator(`[data-testid=tunnel-table] tbody[data-channel="${used.channel}"][data-clients="0"]`).waitFor();
      assert.equal(await usedRows.locator('tr[data-client]').count(), 0);
      assert.match(await usedRows.getByTestId('expiry').innerText(), /^in \d+ d$/);
      await page.getByTestId('tunnel-summary').getByText('0 with clients', { exact: false }).waitFor();
      assert.deepEqual(problems, []);
    } finally {
      for (const c of clients) await c.close();
      await close();
    }
  });

  test('says so when the server refuses or lacks the listing, and recovers when it answers', async () => {
    const { page, problems, close } = await openPage(browser);
    let answer: { status: number; error: string } | undefined = { status: 403, error: 'forbidden' };
    const handler = (route: Route) =>
      answer ? route.fulfill({ status: answer.status, contentType: 'application/json', body: JSON.stringify({ error: answer.error }) }) : route.continue();
    try {
      await issue(hookah.url);
      await page.route(LISTING, handler);
      await page.goto(`${hookah.url}/ui/#/tunnel`);
      const refused = page.locator('[data-testid=tunnel-error][data-status="403"]');
      await refused.waitFor();
      assert.equal(await refused.getAttribute('role'), 'alert');
      assert.match(await refused.innerText(), /needs an admin user/);

      answer = { status: 404, error: 'not found' };
      const lacking = page.locator('[data-testid=tunnel-error][data-status="404"]');
      await lacking.waitFor();
      assert.match(await lacking.innerText(), /does not list tunnel channels .*older version/);
      assert.equal(await lacking.getAttribute('class'), 'info-note');

      answer = undefined;
      await page.getByTestId('tunnel-table').waitFor();
      assert.equal(await page.getByTestId('tunnel-error').count(), 0);
      // The only console noise is the browser reporting the statuses the test made up.
      assert.deepEqual(
        problems.filter((p) => !/status of (403|404)/.test(p)),
        [],
      );
    } finally {
      await page.unroute(LISTING, handler);
      await close();
    }
  });
});
