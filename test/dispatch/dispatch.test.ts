import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Response } from 'undici';
import type { StoredEvent } from '../../src/core/event.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink, type SinkRequest } from '../helpers/sink.ts';
import { nextEvent, waitFor } from '../helpers/wait.ts';

interface Accepted {
  id: string;
  status_url: string | null;
  duplicate: boolean;
  event_id?: string;
}

let hookah: TestHookah;
let sink: Sink;
let seq = 0;

/** A path on the shared sink no other test uses, so tests can run in any order. */
const uniquePath = () => `/t${++seq}`;
const enc = encodeURIComponent;

async function arrivals(path: string, n = 1): Promise<SinkRequest[]> {
  return waitFor(() => {
    const got = sink.requests.filter((r) => r.url.split('?')[0] === path);
    return got.length >= n ? got : undefined;
  }, `${n} request(s) at ${path}`, 10_000);
}

async function dispatch(query: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${hookah.url}/dispatch${query}`, { method: 'POST', ...init });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function accepted(query: string, init: RequestInit = {}): Promise<Accepted> {
  const res = await dispatch(query, init);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body as Accepted;
}

before(async () => {
  hookah = await startTestHookah();
  sink = await startSink();
});

after(async () => {
  await hookah?.close();
  await sink?.close();
});

describe('POST /dispatch delivers', () => {
  test('query parameters: non-control parameters are re-encoded and POSTed to _url', async () => {
    const path = uniquePath();
    const res = await dispatch(`?_url=${enc(`${sink.url}${path}?keep=1`)}&a=1&b=h%C3%A9+x&empty=`);
    assert.equal(res.status, 202);
    assert.match(res.body.id, /\S/);
    assert.equal(res.body.duplicate, false);
    assert.equal(res.body.status_url, `${hookah.url}/messages/${encodeURIComponent(res.body.id)}`);
    assert.equal(res.headers.get('location'), res.body.status_url);
    const [req] = await arrivals(path);
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, `${path}?keep=1`);
    assert.equal(req!.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(req!.body.toString(), 'a=1&b=h%C3%A9+x&empty=');
    assert.match(String(req!.headers['user-agent']), /^hookah\//);
  });

  test('form-urlencoded body: control fields are removed, the rest kept byte for byte', async () => {
    const path = uniquePath();
    const form = `name=Ada+Lovelace&_url=${enc(sink.url + path)}&tags=a%2Cb&tags=c&_event=ignored.for.url`;
    const body = await accepted('?q=from-query', {
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: form,
    });
    assert.equal(body.event_id, undefined);
    const [req] = await arrivals(path);
    assert.equal(req!.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8');
    assert.equal(req!.body.toString(), 'q=from-query&name=Ada+Lovelace&tags=a%2Cb&tags=c');
  });

  test('multipart: fields and files are re-encoded as multipart', async () => {
    const path = uniquePath();
    const file = randomBytes(2048);
    const form = new FormData();
    form.append('_url', sink.url + path);
    form.append('title', 'héllo wörld');
    form.append('upload', new Blob([file], { type: 'image/png' }), 'pic.png');
    form.append('title', 'second');
    await accepted('', { body: form });
    const [req] = await arrivals(path);
    const type = String(req!.headers['content-type']);
    assert.match(type, /^multipart\/form-data; boundary=/);
    const parsed = await new Response(req!.body, { headers: { 'content-type': type } }).formData();
    assert.deepEqual(parsed.getAll('title'), ['héllo wörld', 'second']);
    assert.equal(parsed.get('_url'), null);
    const upload = parsed.get('upload') as unknown as File;
    assert.equal(upload.name, 'pic.png');
    assert.equal(upload.type, 'image/png');
    assert.deepEqual(Buffer.from(await upload.arrayBuffer()), file);
  });

  test('multipart: parts other than control fields keep their bytes, charsets and part headers', async () => {
    const path = uniquePath();
    const b = 'hookah-test-boundary';
    const latin1 = Buffer.from('caf\xe9 \x00\xff', 'latin1'); // not UTF-8
    const kept = [
      Buffer.concat([Buffer.from('Content-Disposition: form-data; name="note"\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n'), latin1]),
      Buffer.from('Content-Disposition: form-data; name="lines"\r\n\r\none\ntwo\rthree'),
      Buffer.concat([Buffer.from('Content-Disposition: form-data; name="blob"; filename="a.bin"\r\nContent-Type: application/x-thing\r\n\r\n'), randomBytes(512)]),
    ];
    const control = Buffer.from(`Content-Disposition: form-data; name="_url"\r\n\r\n${sink.url + path}`);
    const join = (parts: Buffer[]) =>
      Buffer.concat([...parts.flatMap((p) => [Buffer.from(`--${b}\r\n`), p, Buffer.from('\r\n')]), Buffer.from(`--${b}--\r\n`)]);
    await accepted('', { headers: { 'content-type': `multipart/form-data; boundary=${b}` }, body: join([kept[0]!, control, kept[1]!, kept[2]!]) });
    const [req] = await arrivals(path);
    assert.equal(req!.headers['content-type'], `multipart/form-data; boundary=${b}`);
    assert.deepEqual(req!.body, join(kept));
  });

  test('multipart: a form with no control fields in it is forwarded byte for byte', async () => {
    const path = uniquePath();
    const b = '----x';
    const body = Buffer.from(`preamble\r\n--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--${b}--\r\nepilogue`);
    await accepted(`?_url=${enc(sink.url + path)}`, { headers: { 'content-type': `multipart/form-data; boundary="${b}"` }, body });
    const [req] = await arrivals(path);
    assert.deepEqual(req!.body, body);
  });

  for (const [kind, contentType, body] of [
    ['JSON', 'application/json', Buffer.from('{"b": 2,  "a":[1, 2.50, "\\u00e9"]}\n')],
    ['XML', 'application/xml; charset=ISO-8859-1', Buffer.from('<?xml version="1.0"?><a x="\xe9"/>', 'latin1')],
    ['text', 'text/plain; charset=utf-8', Buffer.from('a=1&b=2 is not a form here')],
    ['binary', 'application/octet-stream', randomBytes(64 * 1024)],
  ] as const) {
    test(`raw ${kind} body is delivered byte-exact with its Content-Type`, async () => {
      const path = uniquePath();
      await accepted(`?_url=${enc(sink.url + path)}`, { headers: { 'content-type': contentType }, body });
      const [req] = await arrivals(path);
      assert.equal(req!.headers['content-type'], contentType);
      assert.deepEqual(req!.body, body);
    });
  }

  test('a compressed raw body is delivered byte-exact with its Content-Encoding', async () => {
    const path = uniquePath();
    const body = gzipSync(Buffer.from(JSON.stringify({ big: 'x'.repeat(1000) })));
    await accepted(`?_url=${enc(sink.url + path)}`, { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
    const [req] = await arrivals(path);
    assert.equal(req!.headers['content-encoding'], 'gzip');
    assert.deepEqual(req!.body, body);
    assert.deepEqual(JSON.parse(gunzipSync(req!.body).toString()), { big: 'x'.repeat(1000) });
  });

  test('a bodiless query-string request says nothing of an encoding it does not have', async () => {
    const path = uniquePath();
    await accepted(`?_url=${enc(sink.url + path)}&a=1`, { headers: { 'content-encoding': 'gzip' } });
    const [req] = await arrivals(path);
    assert.equal(req!.headers['content-encoding'], undefined);
    assert.equal(req!.body.toString(), 'a=1');
  });

  test('a raw body without a Content-Type is delivered without one', async () => {
    const path = uniquePath();
    const body = Buffer.from([0, 1, 2, 255]);
    const res = await fetch(`${hookah.url}/dispatch?_url=${enc(sink.url + path)}`, { method: 'POST', body });
    assert.equal(res.status, 202);
    const [req] = await arrivals(path);
    assert.equal(req!.headers['content-type'], undefined);
    assert.deepEqual(req!.body, body);
  });

  test('_method, _header.<Name> and _retries/_timeout are applied', async () => {
    const path = uniquePath();
    const res = await accepted(
      `?_url=${enc(sink.url + path)}&_method=put&_header.X-Tenant=acme&_header.Authorization=${enc('Bearer t0k')}&_retries=3&_timeout=2s`,
      { headers: { 'content-type': 'application/json' }, body: '{}' },
    );
    const [req] = await arrivals(path);
    assert.equal(req!.method, 'PUT');
    assert.equal(req!.headers['x-tenant'], 'acme');
    assert.equal(req!.headers.authorization, 'Bearer t0k');
    const record = await hookah.runtime.dispatcher.get(res.id);
    assert.equal(record?.maxAttempts, 3);
    assert.equal(record?.timeoutMs, 2000);
    assert.equal(record?.method, 'PUT');
  });
});

describe('POST /dispatch refuses bad input with 400 and a reason', () => {
  const cases: Array<[string, string, RegExp, RequestInit?]> = [
    ['no destination', '?a=1', /no destination/],
    ['empty _url', '?_url=', /_url is empty/],
    ['relative _url', `?_url=${enc('/relative/path')}`, /_url is not an absolute URL/],
    ['garbage _url', '?_url=not%20a%20url', /_url is not an absolute URL/],
    ['ftp scheme', `?_url=${enc('ftp://example.com/x')}`, /_url refused: only http and https/],
    ['javascript scheme', `?_url=${enc('javascript:alert(1)')}`, /_url refused: only http and https/],
    ['bad _errback', `?_url=${enc('https://example.com/')}&_errback=nope`, /_errback is not an absolute URL/],
    ['bad _callback scheme', `?_url=${enc('https://example.com/')}&_callback=${enc('file:///etc/passwd')}`, /_callback refused/],
    ['_retries=0', `?_url=${enc('https://example.com/')}&_retries=0`, /_retries must be a whole number of attempts from 1 to 20/],
    ['_retries not a number', `?_url=${enc('https://example.com/')}&_retries=abc`, /_retries must be/],
    ['_retries above the maximum', `?_url=${enc('https://example.com/')}&_retries=21`, /_retries must be/],
    ['_retries negative', `?_url=${enc('https://example.com/')}&_retries=-1`, /_retries must be/],
    ['_timeout above the maximum', `?_url=${enc('https://example.com/')}&_timeout=61s`, /_timeout must be a duration from 1ms to 60000ms/],
    ['_timeout garbage', `?_url=${enc('https://example.com/')}&_timeout=soon`, /_timeout must be/],
    ['_timeout zero', `?_url=${enc('https://example.com/')}&_timeout=0`, /_timeout must be/],
    ['bad _method', `?_url=${enc('https://example.com/')}&_method=DELETE`, /_method must be one of POST, PUT, PATCH/],
    ['unknown control parameter', `?_url=${enc('https://example.com/')}&_retry=3`, /unknown control parameter '_retry'/],
    ['repeated control parameter', `?_url=${enc('https://example.com/')}&_url=${enc('https://example.org/')}`, /'_url' is given more than once/],
    ['invalid header name', `?_url=${enc('https://example.com/')}&_header.Bad%20Name=x`, /does not name a valid HTTP header/],
    ['reserved header', `?_url=${enc('https://example.com/')}&_header.Content-Length=5`, /cannot be set/],
    ['header value with a line break', `?_url=${enc('https://example.com/')}&_header.X-A=${enc('a\r\nX-B: b')}`, /no line breaks/],
    ['invalid topic', '?_topic=a%20b', /_topic is invalid/],
    ['wildcard topic', '?_topic=orders/%23', /_topic is invalid/],
    ['bad _event', '?_topic=t&_event=a%0Ab', /_event must be/],
    [
      'stray query parameter with a raw body',
      `?_url=${enc('https://example.com/')}&page=2`,
      /query parameter 'page' is not a control parameter/,
      { headers: { 'content-type': 'application/json' }, body: '{}' },
    ],
    [
      '_id and Idempotency-Key disagree',
      `?_url=${enc('https://example.com/')}&_id=a`,
      /disagree/,
      { headers: { 'idempotency-key': 'b' } },
    ],
    ['malformed multipart', `?_url=${enc('https://example.com/')}`, /malformed multipart.*no '--xyz' boundary line/, { headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: 'garbage' }],
    ['multipart without a boundary', `?_url=${enc('https://example.com/')}`, /no boundary parameter/, { headers: { 'content-type': 'multipart/form-data' }, body: 'x' }],
    [
      'truncated multipart',
      `?_url=${enc('https://example.com/')}`,
      /ends before the closing '--xyz--'/,
      { headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1' },
    ],
    [
      'a query field holding the multipart boundary',
      `?_url=${enc('https://example.com/')}&q=${enc('a\r\n--xyz')}`,
      /query parameter 'q' holds the multipart boundary '--xyz'/,
      { headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--' },
    ],
  ];
  for (const [name, query, reason, init] of cases) {
    test(name, async () => {
      const res = await dispatch(query, init);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error, reason);
    });
  }

  test('a compressed form: 415, as its fields cannot be read', async () => {
    const res = await dispatch('', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' },
      body: gzipSync(`_url=${enc('https://example.com/')}&a=1`),
    });
    assert.equal(res.status, 415);
    assert.match(res.body.error, /Content-Encoding gzip cannot be used with a form body/);
  });

  test('too many _header. parameters', async () => {
    const headers = Array.from({ length: 33 }, (_, i) => `_header.X-H${i}=v`).join('&');
    const res = await dispatch(`?_url=${enc('https://example.com/')}&${headers}`);
    assert.equal(res.status, 400);
    assert.match(res.body.error, /at most 32/);
  });

  test('a file cannot carry a control parameter', async () => {
    const form = new FormData();
    form.append('_url', new Blob(['https://example.com/']), 'u.txt');
    const res = await dispatch('', { body: form });
    assert.equal(res.status, 400);
    assert.match(res.body.error, /must be a plain field/);
  });

  test('rejections are counted in hookah_dispatch_requests_total', async () => {
    const text = await (await fetch(`${hookah.url}/metrics`)).text();
    assert.match(text, /hookah_dispatch_requests_total\{outcome="rejected"\} [1-9]/);
    assert.match(text, /hookah_dispatch_requests_total\{outcome="accepted"\} [1-9]/);
  });
});

describe('POST /dispatch with no allow-listed networks', () => {
  let strict: TestHookah;
  before(async () => {
    strict = await startTestHookah({ dispatcher: { allowNetworks: [] }, server: { maxBodyBytes: 1024 } });
  });
  after(async () => strict?.close());

  for (const target of [
    'http://10.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://127.0.0.1:9/',
    'http://localhost/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://[fd00::1]/',
    'http://[::ffff:10.0.0.1]/',
    'http://0.0.0.0/',
  ]) {
    test(`refuses literal non-global destination ${target}`, async () => {
      const res = await fetch(`${strict.url}/dispatch?_url=${enc(target)}`, { method: 'POST' });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /^_url refused: /);
    });
  }

  test('refuses a private _errback and _callback too', async () => {
    for (const param of ['_errback', '_callback']) {
      const res = await fetch(`${strict.url}/dispatch?_url=${enc('https://example.com/')}&${param}=${enc('http://10.1.2.3/')}`, { method: 'POST' });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, new RegExp(`^${param} refused`));
    }
  });

  test('answers 413 for a body over server.maxBodyBytes', async () => {
    const res = await fetch(`${strict.url}/dispatch?_url=${enc('https://example.com/')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(2048),
    });
    assert.equal(res.status, 413);
  });
});

describe('_topic', () => {
  function nextOn(topic: string) {
    return nextEvent<StoredEvent>((fn) => hookah.runtime.bus.subscribe([topic], fn, 'internal'), `an event on ${topic}`, 10_000);
  }

  test('publishes the remaining fields to the topic bus', async () => {
    const got = nextOn('orders/created');
    const res = await dispatch('?_topic=orders/created&_event=order.created&id=42&sku=A-1');
    assert.equal(res.status, 202);
    const event = await got;
    assert.equal(res.body.event_id, event.id);
    assert.equal(res.body.id, event.id);
    assert.equal(res.body.status_url, null);
    assert.equal(res.headers.get('location'), null);
    assert.equal(event.body.toString(), 'id=42&sku=A-1');
    assert.equal(event.contentType, 'application/x-www-form-urlencoded');
    assert.equal(event.type, 'order.created');
    assert.equal(event.source, 'dispatch');
  });

  test('publishes a raw body byte-exact with its content type', async () => {
    const body = Buffer.from('{"hello":"wörld"}');
    const got = nextOn('raw/json');
    await accepted('?_topic=raw/json', { headers: { 'content-type': 'application/json' }, body });
    const event = await got;
    assert.deepEqual(event.body, body);
    assert.equal(event.contentType, 'application/json');
    assert.equal(event.headers['content-type'], 'application/json');
  });

  test('_topic and _url together: published and delivered, linked in the record', async () => {
    const path = uniquePath();
    const got = nextOn('both');
    const res = await accepted(`?_topic=both&_url=${enc(sink.url + path)}`, { headers: { 'content-type': 'text/plain' }, body: 'hi' });
    const event = await got;
    const [req] = await arrivals(path);
    assert.equal(req!.body.toString(), 'hi');
    assert.equal(res.event_id, event.id);
    assert.notEqual(res.id, event.id);
    const record = await hookah.runtime.dispatcher.get(res.id);
    assert.equal(record?.topic, 'both');
    assert.equal(record?.eventId, event.id);
  });
});

describe('idempotency', () => {
  test('the same _id twice answers the same id and delivers once', async () => {
    const path = uniquePath();
    const first = await accepted(`?_url=${enc(sink.url + path)}&_id=order-1&n=1`);
    const second = await accepted(`?_url=${enc(sink.url + path)}&_id=order-1&n=1`);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.id, first.id);
    assert.equal(second.status_url, first.status_url);
    await waitFor(async () => (await hookah.runtime.dispatcher.get(first.id))?.status === 'delivered', 'delivery', 10_000);
    const got = await arrivals(path);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.body.toString(), 'n=1');
  });

  test('the Idempotency-Key header works like _id', async () => {
    const path = uniquePath();
    const init = { headers: { 'idempotency-key': 'hdr-key-1', 'content-type': 'application/json' }, body: '{"a":1}' };
    const first = await accepted(`?_url=${enc(sink.url + path)}`, init);
    const second = await accepted(`?_url=${enc(sink.url + path)}`, init);
    assert.equal(second.id, first.id);
    assert.equal(second.duplicate, true);
  });

  test('the same key for a different request: 422, and the first message stands alone', async () => {
    const path = uniquePath();
    const first = await accepted(`?_url=${enc(sink.url + path)}&_id=order-2&n=1`);
    for (const other of [`?_url=${enc(sink.url + path)}&_id=order-2&n=2`, `?_url=${enc(sink.url + path + 'x')}&_id=order-2&n=1`, `?_url=${enc(sink.url + path)}&_id=order-2&n=1&_topic=idem/other`]) {
      const res = await dispatch(other);
      assert.equal(res.status, 422, other);
      assert.match(res.body.error, /already used for a different request/);
    }
    const topicFirst = await accepted(`?_topic=idem/conflict&_id=evt-2&x=1`);
    const topicOther = await dispatch(`?_topic=idem/conflict&_id=evt-2&x=2`);
    assert.equal(topicOther.status, 422);
    assert.equal(topicFirst.duplicate, false);
    await waitFor(async () => (await hookah.runtime.dispatcher.get(first.id))?.status === 'delivered', 'delivery', 10_000);
    assert.deepEqual((await arrivals(path)).map((r) => r.body.toString()), ['n=1']);
    const { events } = await hookah.runtime.stores.events.read({ patterns: ['idem/#'], limit: 10 });
    assert.deepEqual(events.filter((e) => e.topic !== 'idem/topic').map((e) => e.topic), ['idem/conflict']);
  });

  test('a multipart form sent again under the same key is a duplicate, whatever boundary the client picks', async () => {
    const path = uniquePath();
    const form = () => {
      const f = new FormData();
      f.append('_url', sink.url + path);
      f.append('_id', 'form-1');
      f.append('file', new Blob([Buffer.from('same bytes')], { type: 'text/plain' }), 'a.txt');
      return f;
    };
    const first = await accepted('', { body: form() });
    const again = await accepted('', { body: form() }); // fetch picks a new random boundary for each encoding
    assert.deepEqual([again.id, again.duplicate], [first.id, true]);
  });

  test('a key is one request across topic-only and destination-only requests too', async () => {
    const path = uniquePath();
    await accepted(`?_topic=idem/cross&_id=cross-1&x=1`);
    const res = await dispatch(`?_url=${enc(sink.url + path)}&_id=cross-1&x=1`);
    assert.equal(res.status, 422, 'a destination-only request under a topic-only key');
    await accepted(`?_url=${enc(sink.url + path)}&_id=cross-2&x=1`);
    const back = await dispatch(`?_topic=idem/cross&_id=cross-2&x=1`);
    assert.equal(back.status, 422, 'a topic-only request under a destination-only key');
    const { events } = await hookah.runtime.stores.events.read({ patterns: ['idem/cross'], limit: 10 });
    assert.equal(events.length, 1, 'the refused one published nothing');
  });

  test('a repeated _id on a topic publishes once', async () => {
    const topic = 'idem/topic';
    const first = await accepted(`?_topic=${topic}&_id=evt-1&x=1`);
    const second = await accepted(`?_topic=${topic}&_id=evt-1&x=1`);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.event_id, first.event_id);
    const { events } = await hookah.runtime.stores.events.read({ patterns: [topic], limit: 10 });
    assert.equal(events.length, 1);
  });
});
