import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tokenDigest } from '../../src/auth/tokens.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { runCli } from './run.ts';

interface TopicMessages {
  messages: { id: string; topic: string; type?: string; content_type: string; data: unknown; encoding?: string }[];
}

const topicMessages = async (url: string, topic: string) =>
  (await (await fetch(`${url}/topics/${topic}/messages`)).json()) as TopicMessages;

describe('hookah send', () => {
  let hookah: TestHookah;
  let sink: Sink;
  let dir: string;

  before(async () => {
    hookah = await startTestHookah({ server: { maxBodyBytes: 16 * 1024 * 1024 } });
    sink = await startSink();
    dir = mkdtempSync(join(tmpdir(), 'hookah-send-'));
  });
  after(async () => {
    await hookah?.close();
    await sink?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('publishes standard input to a topic, sniffing JSON, and prints the event id', async () => {
    const r = await runCli(['send', 'cli/stdin', '--event', 'order.created', '--server', hookah.url], { stdin: '{"order":1}\n' });
    assert.equal(r.code, 0, r.stderr);
    const m = /^published (\S+) cli\/stdin$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    const { messages } = await topicMessages(hookah.url, 'cli/stdin');
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.id, m[1]);
    assert.equal(messages[0]!.content_type, 'application/json');
    assert.equal(messages[0]!.type, 'order.created');
    assert.deepEqual(messages[0]!.data, { order: 1 });
  });

  test('delivers a file to a URL with its content type, headers and attempt bound, and prints the message id and status URL', async () => {
    const file = join(dir, 'order.xml');
    writeFileSync(file, '<order id="2"/>');
    const r = await runCli(['send', `${sink.url}/in?x=1`, file, '-H', 'X-Tenant: acme', '--retries', '3', '-s', hookah.url]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^queued (msg_\S+) (\S+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[2], `${hookah.url}/messages/${m[1]}`);
    const [req] = await sink.waitForRequests(1, 10_000);
    assert.equal(req!.url, '/in?x=1');
    assert.equal(req!.headers['content-type'], 'application/xml');
    assert.equal(req!.headers['x-tenant'], 'acme');
    assert.equal(req!.body.toString(), '<order id="2"/>');
    const status = (await (await fetch(m[2]!)).json()) as { max_attempts: number };
    assert.equal(status.max_attempts, 3);
  });

  test('sends many files, one message each, with progress on stderr', async () => {
    const files = ['a.json', 'b.txt', 'c.bin'].map((name, i) => {
      const path = join(dir, name);
      writeFileSync(path, name.endsWith('.bin') ? Buffer.from([0, 1, 2, 255]) : name.endsWith('.json') ? `{"n":${i}}` : `line ${i}`);
      return path;
    });
    const r = await runCli(['send', 'cli/many', ...files, '--server', hookah.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 3, r.stdout);
    assert.match(r.stdout, /^a\.json\tpublished \S+ cli\/many$/m);
    assert.match(r.stderr, /^\[1\/3\] sending a\.json \(7 B\)$/m);
    assert.match(r.stderr, /^\[3\/3\] c\.bin: 202 /m);
    assert.match(r.stderr, /^sent 3 of 3$/m);
    const { messages } = await topicMessages(hookah.url, 'cli/many');
    assert.deepEqual(
      messages.map((m) => [m.content_type, m.data]),
      [
        ['application/json', { n: 0 }],
        ['text/plain; charset=utf-8', 'line 1'],
        ['application/octet-stream', Buffer.from([0, 1, 2, 255]).toString('base64')],
      ],
    );
  });

  test('reports progress while uploading a large file', async () => {
    const file = join(dir, 'big.data');
    const big = Buffer.alloc(9 * 1024 * 1024, 0xff);
    writeFileSync(file, big);
    const before = sink.requests.length;
    const r = await runCli(['send', `${sink.url}/big`, file, '-s', hookah.url, '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^sending big\.data \(9\.0 MiB\)$/m);
    assert.match(r.stderr, /^big\.data: 25% /m);
    assert.match(r.stderr, /^big\.data: 75% /m);
    assert.match(r.stderr, /^big\.data: 202 msg_/m);
    const answer = JSON.parse(r.stdout) as { id: string; duplicate: boolean };
    assert.match(answer.id, /^msg_/);
    const req = (await sink.waitForRequests(before + 1, 15_000))[before];
    assert.equal(req!.body.length, big.length);
    assert.equal(req!.headers['content-type'], 'application/octet-stream');
  });

  test('fails with the server reason when the body is over the limit', async () => {
    const file = join(dir, 'huge.bin');
    writeFileSync(file, Buffer.alloc(17 * 1024 * 1024));
    const r = await runCli(['send', 'cli/huge', file, '-s', hookah.url, '-q'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /server answered 413: body is \d+ bytes; the limit is 16777216/);
    assert.equal(r.stdout, '');
  });

  test('checks its arguments before sending anything', async () => {
    const ok = join(dir, 'ok.json');
    writeFileSync(ok, '{}');
    const missing = await runCli(['send', 'cli/never', ok, join(dir, 'missing.json'), '-s', hookah.url]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*missing\.json: ENOENT/);
    const event = await runCli(['send', `${sink.url}/x`, ok, '--event', 'e', '-s', hookah.url]);
    assert.equal(event.code, 2);
    assert.match(event.stderr, /--event applies to topics only/);
    const retries = await runCli(['send', 'cli/never', ok, '--retries', '2', '-s', hookah.url]);
    assert.equal(retries.code, 2);
    const server = await runCli(['send', 'cli/never', ok, '-s', 'not a url']);
    assert.equal(server.code, 2);
    assert.match(server.stderr, /--server must be a URL/);
    assert.equal((await fetch(`${hookah.url}/topics/cli/never`)).status, 404);
  });

  test('reports an unreachable server with exit status 1', async () => {
    const r = await runCli(['send', 'cli/x', '-s', 'http://127.0.0.1:9'], { stdin: 'x' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

describe('hookah send and status with access control', () => {
  const TOKEN = 'hk_cli-test-token-0123456789abcdef';
  let hookah: TestHookah;

  before(async () => {
    hookah = await startTestHookah({
      auth: {
        users: [
          { name: 'publisher', tokens: [`sha256:${tokenDigest(TOKEN)}`], publish: ['cli/#'] },
          { name: 'root', password: 'plain;;root-password', admin: true },
        ],
      },
    } as never);
  });
  after(async () => {
    await hookah?.close();
  });

  test('sends the token from --token or HOOKAH_TOKEN, and explains a 401', async () => {
    const refused = await runCli(['send', 'cli/secure', '-s', hookah.url], { stdin: 'x' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /server answered 401: .*pass --token or --user/);
    const flag = await runCli(['send', 'cli/secure', '-s', hookah.url, '--token', TOKEN], { stdin: 'one' });
    assert.equal(flag.code, 0, flag.stderr);
    const env = await runCli(['send', 'cli/secure', '-s', hookah.url], { stdin: 'two', env: { HOOKAH_TOKEN: TOKEN } });
    assert.equal(env.code, 0, env.stderr);
  });

  test('status needs an admin and says so', async () => {
    const publisher = await runCli(['status', '-s', hookah.url, '--token', TOKEN]);
    assert.equal(publisher.code, 1);
    assert.match(publisher.stderr, /server answered 403/);
    const root = await runCli(['status', '-s', hookah.url, '--user', 'root:root-password']);
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stdout, /access control on/);
  });
});
