import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { fastHash } from '../auth/support.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { buildUi, chromiumMissing, launch, openPage } from './browser.ts';

const SCREENSHOT = '/tmp/hookah-dashboard-e2e.png';
const RESEND_SCREENSHOT = '/tmp/hookah-dashboard-resend.png';

describe('dashboard in headless Chromium', { skip: chromiumMissing, timeout: 120_000 }, () => {
  let browser: Browser;

  before(async () => {
    buildUi();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  describe('open server', () => {
    let hookah: TestHookah;
    let sink: Sink;

    before(async () => {
      hookah = await startTestHookah();
      sink = await startSink((_req, res) => {
        res.statusCode = 500;
        res.end('database is down');
      });
    });
    after(async () => {
      await hookah?.close();
      await sink?.close();
    });

    test('shows a message published during the test live, and resends a failed delivery', async () => {
      // A delivery that fails for good: one attempt, answered 500.
      const dispatched = await fetch(`${hookah.url}/dispatch?_retries=1&_url=${encodeURIComponent(`${sink.url}/orders`)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"order":7}',
      });
      assert.equal(dispatched.status, 202);
      const { id } = (await dispatched.json()) as { id: string };
      await waitFor(
        async () => ((await (await fetch(`${hookah.url}/messages/${id}`)).json()) as { status: string }).status === 'failed',
        'the delivery to fail',
        10_000,
      );

      const { page, problems, close } = await openPage(browser);
      try {
        await page.goto(`${hookah.url}/ui`);
        await page.getByTestId('server-info').getByText('sqlite').waitFor();
        await page.getByTestId('failed-count').getByText('1').waitFor();

        // Live tail: follow a pattern through the form, then publish.
        await page.getByRole('link', { name: 'Live tail' }).click();
        await page.locator('#tail-topic').fill('e2e/#');
        await page.getByRole('button', { name: 'Follow' }).click();
        await page.locator('[data-testid=tail-state][data-state=live]').waitFor();
        // The browser's SSE connection is a live subscriber of the topic.
        await waitFor(
          async () => ((await (await fetch(`${hookah.url}/admin/overview`)).json()) as { subscribers: Record<string, number> }).subscribers.sse === 1,
          'the dashboard to be an SSE subscriber',
          10_000,
        );
        const published = await fetch(`${hookah.url}/dispatch?_topic=e2e/live&_event=greeting`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'hello from the e2e test' }),
        });
        const { event_id: eventId } = (await published.json()) as { event_id: string };
        const item = page.locator(`.tail-item[data-id="${eventId}"]`);
        await item.waitFor();
        assert.match(await item.innerText(), /e2e\/live/);
        assert.match(await item.innerText(), /hello from the e2e test/);
        assert.match(await item.innerText(), /greeting/);

        // Deliveries: the failed one, its attempt, and Resend.
        await page.getByRole('link', { name: /^Deliveries/ }).click();
        await page.locator('[data-status=failed]').click();
        await page.locator(`[data-testid=messages-table] tr[data-id="${id}"]`).click();
        const detail = page.getByTestId('message-detail');
        const first = detail.locator('tr[data-attempt="1"]');
        await first.waitFor();
        assert.match(await first.innerText(), /500/);
        assert.match(await first.innerText(), /database is down/);
        await detail.getByTestId('message-status').getByText('failed', { exact: false }).waitFor();

        sink.handle((_req, res) => void res.end('stored, thanks'));
        await detail.getByTestId('resend').click();
        const second = detail.locator('tr[data-attempt="2"]');
        await second.waitFor();
        await second.getByTestId('attempt-status').getByText('200', { exact: true }).waitFor();
        assert.match(await second.innerText(), /stored, thanks/);
        await detail.getByTestId('message-status').getByText('delivered', { exact: false }).waitFor();
        assert.equal(await detail.getByTestId('resend').isDisabled(), true);
        assert.equal(sink.requests.length, 2);
        await page.screenshot({ path: RESEND_SCREENSHOT });

        await page.goto(`${hookah.url}/ui/#/overview`);
        await page.locator('[data-testid=topics-table] tr[data-topic="e2e/live"]').waitFor();
        await page.getByTestId('failed-count').getByText('0').waitFor();
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    });

    test('serves the bundle with content types, caching and a strict CSP', async () => {
      const page = await fetch(`${hookah.url}/ui/`);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(page.headers.get('cache-control'), 'no-cache');
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*connect-src 'self'/);
      const html = await page.text();
      const script = /src="\.\/(app-[\w]+\.js)"/.exec(html)?.[1];
      const style = /href="\.\/(app-[\w]+\.css)"/.exec(html)?.[1];
      assert.ok(script && style, html);
      assert.doesNotMatch(html, /https?:\/\//);

      const js = await fetch(`${hookah.url}/ui/${script}`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(js.status, 200);
      assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.equal(js.headers.get('cache-control'), 'private, max-age=31536000, immutable');
      const etag = js.headers.get('etag');
      assert.ok(etag);
      await js.arrayBuffer();
      const again = await fetch(`${hookah.url}/ui/${script}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      const css = await fetch(`${hookah.url}/ui/${style}`);
      assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
      await css.arrayBuffer();

      const redirect = await fetch(`${hookah.url}/ui`, { redirect: 'manual' });
      assert.equal(redirect.status, 308);
      assert.equal(redirect.headers.get('location'), 'ui/');
      assert.equal((await fetch(`${hookah.url}/ui/nope.js`)).status, 404);
      assert.equal((await fetch(`${hookah.url}/ui/..%2Fpackage.json`)).status, 404);
    });
  });

  describe('with users configured', () => {
    let hookah: TestHookah;

    before(async () => {
      hookah = await startTestHookah({
        auth: {
          users: [
            { name: 'root', password: await fastHash('root-password'), admin: true },
            { name: 'alice', password: await fastHash('alice-password'), subscribe: ['#'], read: ['#'] },
          ],
        },
      } as never);
    });
    after(async () => {
      await hookah?.close();
    });

    test('asks the browser for Basic credentials and sends them with every request', async () => {
      const anonymous = await fetch(`${hookah.url}/ui/`);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /Basic realm=/);
      await anonymous.arrayBuffer();
      const alice = await fetch(`${hookah.url}/ui/`, { headers: { authorization: `Basic ${Buffer.from('alice:alice-password').toString('base64')}` } });
      assert.equal(alice.status, 403);
      await alice.arrayBuffer();

      const { page, problems, close } = await openPage(browser, { httpCredentials: { username: 'root', password: 'root-password' } });
      try {
        await page.goto(`${hookah.url}/ui/#/tail?topic=secure/events`);
        await page.locator('[data-testid=tail-state][data-state=live]').waitFor();
        await fetch(`${hookah.url}/hook/secure/events`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from('root:root-password').toString('base64')}` },
          body: 'signed in',
        });
        await page.locator('.tail-item', { hasText: 'signed in' }).waitFor();
        await page.getByRole('link', { name: 'Overview' }).click();
        await page.getByTestId('server-card').getByText('on', { exact: true }).waitFor();
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    });
  });
});
