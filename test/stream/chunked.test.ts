import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { hook, jsonLines, openRaw, rawGet } from './util.ts';

describe('GET /stream (chunked ndjson)', () => {
  let h: TestHookah;
  before(async () => {
    h = await startTestHookah({ streams: { keepAlive: 50 } });
  });
  after(() => h.close());

  test('one envelope per CRLF-terminated line, JSON, text and binary bodies', async () => {
    const s = await openRaw(`${h.url}/stream?topic=chunk/basic`);
    try {
      assert.equal(s.res.statusCode, 200);
      assert.equal(s.res.headers['content-type'], 'application/x-ndjson');
      assert.equal(s.res.headers['transfer-encoding'], 'chunked');
      const id1 = await hook(h.url, 'chunk/basic', '{"order":1}', 'application/json', 'POST', { 'x-signature': 'abc' });
      const id2 = await hook(h.url, 'chunk/basic', 'plain text', 'text/plain');
      const id3 = await hook(h.url, 'chunk/basic', Buffer.from([0xff, 0x00, 0xfe]), 'application/octet-stream');
      const lines = await s.until((t) => {
        const l = jsonLines(t);
        return l.length >= 3 && l;
      }, 'three messages');
      assert.match(s.text(), /\}\r\n/);
      const [a, b, c] = lines as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
      assert.equal(a.id, id1);
      assert.equal(a.topic, 'chunk/basic');
      assert.equal(a.source, 'hook');
      assert.equal(a.content_type, 'application/json');
      assert.deepEqual(a.data, { order: 1 });
      assert.equal((a.headers as Record<string, string>)['x-signature'], 'abc');
      assert.ok(!Number.isNaN(Date.parse(a.received_at as string)));
      assert.equal(a.encoding, undefined);
      assert.equal(b.id, id2);
      assert.equal(b.data, 'plain text');
      assert.equal(c.id, id3);
      assert.equal(c.encoding, 'base64');
      assert.deepEqual(Buffer.from(c.data as string, 'base64'), Buffer.from([0xff, 0x00, 0xfe]));
    } finally {
      s.close();
    }
  });

  test('delimited=length prefixes each message with its byte length', async () => {
    const s = await openRaw(`${h.url}/stream?topic=chunk/len&delimited=length`);
    try {
      await hook(h.url, 'chunk/len', 'héllo wörld ✓', 'text/plain');
      await hook(h.url, 'chunk/len', '{"n":2}');
      const messages = await s.until(() => {
        const out: Record<string, unknown>[] = [];
        let buf = s.bytes();
        for (;;) {
          // Keep-alive CRLFs may come before a length line.
          while (buf.subarray(0, 2).toString() === '\r\n') buf = buf.subarray(2);
          const nl = buf.indexOf('\r\n');
          if (nl < 0) break;
          const len = Number(buf.subarray(0, nl).toString());
          assert.ok(Number.isInteger(len) && len > 0, `bad length line ${JSON.stringify(buf.subarray(0, nl).toString())}`);
          const body = buf.subarray(nl + 2, nl + 2 + len);
          if (body.length < len) break;
          assert.equal(body.subarray(-2).toString(), '\r\n', 'the length includes the trailing CRLF');
          out.push(JSON.parse(body.toString()) as Record<string, unknown>);
          buf = buf.subarray(nl + 2 + len);
        }
        return out.length >= 2 && out;
      }, 'two length-delimited messages');
      assert.equal(messages[0]!.data, 'héllo wörld ✓');
      assert.deepEqual(messages[1]!.data, { n: 2 });
    } finally {
      s.close();
    }
  });

  test('sends a keep-alive blank line every streams.keepAlive', async () => {
    const s = await openRaw(`${h.url}/stream?topic=chunk/idle`);
    try {
      await s.until((t) => t.split('\r\n').length > 3, 'three keep-alive lines');
      assert.match(s.text(), /^(\r\n)+$/);
    } finally {
      s.close();
    }
  });

  test('wildcards and several topics on one stream', async () => {
    const s = await openRaw(`${h.url}/stream?topic=wild/orders/%2B&topic=wild/audit/%23&topic=wild/exact`);
    try {
      const publish = ['wild/orders/created', 'wild/orders/x/y', 'wild/audit', 'wild/audit/a/b', 'wild/other', 'wild/exact', 'wild/exact/no'];
      for (const topic of publish) await hook(h.url, topic, JSON.stringify({ topic }));
      await hook(h.url, 'wild/exact', '"end"');
      const lines = await s.until((t) => {
        const l = jsonLines(t);
        return l.some((m) => m.data === 'end') && l;
      }, 'the end marker');
      assert.deepEqual(
        lines.map((m) => m.topic),
        ['wild/orders/created', 'wild/audit', 'wild/audit/a/b', 'wild/exact', 'wild/exact'],
      );
    } finally {
      s.close();
    }
  });

  test('since=<id> replays the backlog then goes live, without duplicates', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await hook(h.url, 'chunk/resume', JSON.stringify(i)));
    const s = await openRaw(`${h.url}/stream?topic=chunk/resume&since=${ids[1]}`);
    try {
      await s.until((t) => jsonLines(t).length >= 2, 'the replay');
      ids.push(await hook(h.url, 'chunk/resume', '4'));
      const lines = await s.until((t) => {
        const l = jsonLines(t);
        return l.length >= 3 && l;
      }, 'the live message');
      assert.deepEqual(
        lines.map((m) => m.id),
        ids.slice(2),
      );
      assert.deepEqual(
        lines.map((m) => m.data),
        [2, 3, 4],
      );
    } finally {
      s.close();
    }
  });

  test('a Last-Event-ID header resumes too', async () => {
    const first = await hook(h.url, 'chunk/lei', '1');
    const second = await hook(h.url, 'chunk/lei', '2');
    const s = await openRaw(`${h.url}/stream?topic=chunk/lei`, { 'last-event-id': first });
    try {
      const lines = await s.until((t) => jsonLines(t).length >= 1 && jsonLines(t), 'the replayed message');
      assert.equal(lines[0]!.id, second);
    } finally {
      s.close();
    }
  });

  test('a resume id newer than anything stored streams from now', async () => {
    const s = await openRaw(`${h.url}/stream?topic=chunk/future&since=99999999`);
    try {
      const id = await hook(h.url, 'chunk/future', '"now"');
      const lines = await s.until((t) => jsonLines(t).length >= 1 && jsonLines(t), 'the live message');
      assert.equal(lines[0]!.id, id);
    } finally {
      s.close();
    }
  });

  test('bad requests get a 400 with a reason', async () => {
    for (const [query, reason] of [
      ['', /topic/],
      ['?topic=a/%23/b', /'#' is only allowed as the last segment/],
      ['?topic=a&delimited=newline', /delimited/],
      ['?topic=a&since=not%20an%20id', /since/],
    ] as const) {
      const res = await rawGet(`${h.url}/stream${query}`);
      assert.equal(res.status, 400, query);
      assert.match((JSON.parse(res.body) as { error: string }).error, reason);
    }
  });

  test('HEAD answers the headers without holding a stream open', async () => {
    const res = await fetch(`${h.url}/stream?topic=chunk/head`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  });

  test('CORS: any origin by default, preflight answered', async () => {
    const s = await openRaw(`${h.url}/stream?topic=chunk/cors`, { origin: 'https://app.example' });
    s.close();
    assert.equal(s.res.headers['access-control-allow-origin'], '*');
    const pre = await fetch(`${h.url}/stream?topic=x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /last-event-id/);
  });
});

describe('stream limits and shutdown', () => {
  test('CORS restricted to configured origins', async () => {
    const h = await startTestHookah({ streams: { corsOrigins: ['https://good.example', 'https://*.trusted.example'] } });
    try {
      const ok = await fetch(`${h.url}/poll?topic=x&timeout=1`, { headers: { origin: 'https://good.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://good.example');
      assert.match(ok.headers.get('vary') ?? '', /origin/i);
      const sub = await fetch(`${h.url}/poll?topic=x&timeout=1`, { headers: { origin: 'https://a.trusted.example' } });
      assert.equal(sub.headers.get('access-control-allow-origin'), 'https://a.trusted.example');
      const bad = await fetch(`${h.url}/poll?topic=x&timeout=1`, { headers: { origin: 'https://evil.example' } });
      assert.equal(bad.headers.get('access-control-allow-origin'), null);
      const pre = await fetch(`${h.url}/hook/x`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      assert.equal(pre.status, 403);
    } finally {
      await h.close();
    }
  });

  test('streams.maxConnections answers 503 with a reason', async () => {
    const h = await startTestHookah({ streams: { maxConnections: 2 } });
    const a = await openRaw(`${h.url}/stream?topic=cap`);
    const b = await openRaw(`${h.url}/stream?topic=cap`, { accept: 'text/event-stream' });
    try {
      const res = await rawGet(`${h.url}/stream?topic=cap`);
      assert.equal(res.status, 503);
      assert.match(res.body, /maxConnections/);
      assert.equal(res.headers['retry-after'], '5');
      a.close();
      await waitFor(async () => (await rawGet(`${h.url}/poll?topic=cap&timeout=1`)).status === 200, 'a free slot');
    } finally {
      a.close();
      b.close();
      await h.close();
    }
  });

  test('shutdown ends open streams', async () => {
    const h = await startTestHookah();
    const s = await openRaw(`${h.url}/stream?topic=bye`);
    const started = Date.now();
    await h.close();
    await waitFor(() => s.ended(), 'the stream to end');
    assert.ok(Date.now() - started < 5000);
  });
});
