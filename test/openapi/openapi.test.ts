import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createEdges } from '../../src/edges/index.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';
import { validate, type Schema } from './schema-check.ts';

type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

interface Doc {
  openapi: string;
  info: Json;
  servers: { url: string }[];
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Json> };
  tags: { name: string }[];
  security: Json[];
}

describe('OpenAPI document', () => {
  let hookah: TestHookah;
  let sink: Sink;
  let doc: Doc;

  before(async () => {
    hookah = await startTestHookah({ queues: { list: [{ name: 'foo' }] } } as never);
    // Echoes WebSub challenges; answers everything else 200.
    sink = await startSink((req, res) => {
      const challenge = new URL(req.url, 'http://x').searchParams.get('hub.challenge');
      res.end(challenge ?? 'ok');
    });
    const res = await fetch(`${hookah.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await res.json()) as Doc;
  });
  after(async () => {
    await hookah?.close();
    await sink?.close();
  });

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ path, method, op })),
    );

  test('is a structurally valid OpenAPI 3.1 document', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'Hookah');
    assert.equal(typeof doc.info.version, 'string');
    assert.equal(doc.servers[0]!.url, hookah.url);
    const tags = new Set(doc.tags.map((t) => t.name));
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      assert.match(path, /^\//, path);
      const ops = Object.keys(item).filter((k) => METHODS.includes(k));
      assert.ok(ops.length > 0, `${path} has no operation`);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      for (const method of ops) {
        const op = item[method]!;
        const where = `${method.toUpperCase()} ${path}`;
        assert.equal(typeof op.operationId, 'string', `${where} operationId`);
        assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is not unique`);
        ids.add(op.operationId);
        assert.ok(op.summary, `${where} summary`);
        assert.ok(op.tags?.length > 0 && op.tags.every((t: string) => tags.has(t)), `${where} tags`);
        assert.ok(op['x-hookah-permission'], `${where} permission`);
        const responses = Object.entries(op.responses ?? {});
        assert.ok(responses.length > 0, `${where} has no responses`);
        for (const [status, response] of responses) {
          assert.match(status, /^([1-5]\d\d|default)$/, `${where} status ${status}`);
          assert.ok((response as Json).description, `${where} ${status} description`);
        }
        const pathParams = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
        assert.deepEqual([...pathParams].sort(), [...templated].sort(), `${where}: path parameters`);
        for (const p of op.parameters ?? []) {
          assert.ok(['path', 'query', 'header', 'cookie'].includes(p.in), `${where} parameter ${p.name}`);
          if (p.in === 'path') assert.equal(p.required, true, `${where} path parameter ${p.name} must be required`);
        }
        for (const requirement of op.security ?? []) {
          for (const scheme of Object.keys(requirement)) assert.ok(doc.components.securitySchemes[scheme], `${where} security ${scheme}`);
        }
      }
    }
    // Every $ref anywhere resolves.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const target = ref.slice(8, -1);
      assert.match(target, /^#\/components\/schemas\//);
      assert.ok(doc.components.schemas[target.slice('#/components/schemas/'.length)], `${target} does not resolve`);
    }
  });

  test('documents every route of every edge', async () => {
    // The same edges a server runs, built once more (own metrics registry) to read their routes;
    // on a server of their own, since they hook into its bus.
    const spare = await startTestHookah();
    const edges = createEdges({ ...spare.runtime, metrics: new Metrics() });
    try {
      const missing: string[] = [];
      let routes = 0;
      for (const edge of edges) {
        for (const layer of edge.router?.stack ?? []) {
          if (typeof layer.path !== 'string' || layer.methods.length === 0) continue;
          routes++;
          const template = layer.path
            .replace(/\{\/\*\w+\}/g, '') // optional trailing wildcard: the base path must be documented
            .replace(/:(\w+)/g, '{$1}')
            .replace(/\*(\w+)/g, '{$1}');
          const wildcard = /\*\w+/.test(layer.path.replace(/\{\/\*\w+\}/g, ''));
          const documented = (method: string) =>
            Object.entries(doc.paths).some(([p, item]) => (wildcard ? p.startsWith(template.slice(0, template.lastIndexOf('{') + 1)) : p === template) && item[method]);
          const methods = layer.methods.map((m) => m.toLowerCase()).filter((m) => m !== 'head' && m !== 'options');
          // router.all() registers every method Node knows; the common ones must be documented.
          const required = methods.length > 8 ? ['get', 'post', 'put', 'patch', 'delete'] : methods;
          for (const method of required) if (!documented(method)) missing.push(`${method.toUpperCase()} ${layer.path} (as ${template})`);
        }
      }
      assert.ok(routes > 40, `only ${routes} routes found`);
      assert.deepEqual(missing, [], `undocumented routes:\n${missing.join('\n')}`);
    } finally {
      for (const edge of edges) await edge.close?.();
      await spare.close();
    }
  });

  /** Checks a real response against the documented status, media type and schema. */
  async function check(method: string, template: string, res: Response): Promise<any> {
    const where = `${method.toUpperCase()} ${template} → ${res.status}`;
    const op = doc.paths[template]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${template} is not documented`);
    const spec = (op.responses[String(res.status)] ?? op.responses.default) as Json | undefined;
    const text = await res.text();
    assert.ok(spec, `${where} is not a documented status (body: ${text.slice(0, 200)})`);
    if (!spec.content) {
      assert.equal(text, '', `${where}: documented without a body`);
      return undefined;
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const media = (spec.content[type] ?? spec.content['*/*']) as Json | undefined;
    assert.ok(media, `${where}: content type ${type} not documented (${Object.keys(spec.content).join(', ')})`);
    if (type !== 'application/json') return text;
    const body = JSON.parse(text);
    const errors = validate(body, media.schema as Schema, doc);
    assert.deepEqual(errors, [], `${where} does not match its schema:\n${errors.join('\n')}\nbody: ${text.slice(0, 500)}`);
    return body;
  }

  const post = (path: string, body?: string | URLSearchParams, headers: Record<string, string> = {}) =>
    fetch(`${hookah.url}${path}`, { method: 'POST', body, headers });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${hookah.url}${path}`, { headers });

  test('health, metrics, overview and the dashboard answer as documented', async () => {
    await check('get', '/healthz', await get('/healthz'));
    const metrics = await check('get', '/metrics', await get('/metrics'));
    assert.match(metrics, /^# HELP hookah_/m);
    await check('get', '/openapi.json', await get('/openapi.json'));
    const overview = await check('get', '/admin/overview', await get('/admin/overview'));
    assert.equal(overview.server.storage, 'sqlite');
    await check('get', '/admin/overview', await get('/admin/overview?limit=0'));
    await check('get', '/ui', await fetch(`${hookah.url}/ui`, { redirect: 'manual' }));
  });

  test('dispatch and the messages API answer as documented', async () => {
    const accepted = await check('post', '/dispatch', await post(`/dispatch?_url=${encodeURIComponent(`${sink.url}/a`)}&_topic=oa/dispatch`, '{"a":1}', { 'content-type': 'application/json' }));
    assert.match(accepted.id, /^msg_/);
    assert.ok(accepted.event_id);
    await check('post', '/dispatch', await post('/dispatch?_topic=oa/only', 'x'));
    await check('post', '/dispatch', await post('/dispatch?_nope=1', 'x'));
    await waitFor(async () => ((await (await get(`/messages/${accepted.id}`)).json()) as Json).status === 'delivered', 'the delivery', 10_000);
    const message = await check('get', '/messages/{id}', await get(`/messages/${accepted.id}`));
    assert.equal(message.attempts.length, 1);
    await check('get', '/messages/{id}', await get('/messages/msg_unknown'));
    const page = await check('get', '/messages', await get('/messages?limit=10'));
    assert.ok(page.messages.length >= 1);
    await check('get', '/messages', await get('/messages?status=bogus'));
    await check('post', '/messages/{id}/retry', await post(`/messages/${accepted.id}/retry`));

    sink.handle((_req, res) => {
      res.statusCode = 500;
      res.end('nope');
    });
    try {
      const failing = (await (await post(`/dispatch?_retries=1&_url=${encodeURIComponent(`${sink.url}/f`)}`, 'x')).json()) as Json;
      await waitFor(async () => ((await (await get(`/messages/${failing.id}`)).json()) as Json).status === 'failed', 'the failure', 10_000);
      const retried = await check('post', '/messages/{id}/retry', await post(`/messages/${failing.id}/retry`));
      assert.equal(retried.status, 'pending');
      const failed = await check('get', '/messages/{id}', await get(`/messages/${failing.id}`));
      assert.equal(failed.attempts[0].status, 500);
    } finally {
      sink.handle((req, res) => void res.end(new URL(req.url, 'http://x').searchParams.get('hub.challenge') ?? 'ok'));
    }
  });

  test('streams, hook and the backlog API answer as documented', async () => {
    const published = await check('post', '/hook/{topic}', await post('/hook/oa/stream', '{"s":1}', { 'content-type': 'application/json' }));
    await check('put', '/hook/{topic}', await fetch(`${hookah.url}/hook/oa/stream`, { method: 'PUT', body: 'plain text' }));
    await check('get', '/topics', await get('/topics'));
    const topic = await check('get', '/topics/{topic}', await get('/topics/oa/stream'));
    assert.equal(topic.count, 2);
    await check('get', '/topics/{topic}', await get('/topics/oa/none'));
    const messages = await check('get', '/topics/{topic}/messages', await get('/topics/oa/stream/messages'));
    assert.equal(messages.messages.length, 2);
    await check('post', '/topics/{topic}/messages/{id}/redeliver', await post(`/topics/oa/stream/messages/${published.id}/redeliver`));
    const poll = await check('get', '/poll', await get(`/poll?topic=oa/stream&since=${published.id}&timeout=1s`));
    assert.ok(poll.messages.length >= 1);
    await check('get', '/poll', await get('/poll'));
    await check('get', '/ws', await get('/ws?topic=oa/stream'));
    await check('get', '/socket/{topic}', await get('/socket/oa/stream'));

    const controller = new AbortController();
    try {
      const sse = await fetch(`${hookah.url}/sse?topic=oa/stream`, { signal: controller.signal });
      assert.equal(sse.status, 200);
      assert.ok(doc.paths['/sse']!.get!.responses['200'].content[(sse.headers.get('content-type') ?? '').split(';')[0]!]);
      const chunked = await fetch(`${hookah.url}/stream?topic=oa/stream`, { signal: controller.signal });
      assert.ok(doc.paths['/stream']!.get!.responses['200'].content[(chunked.headers.get('content-type') ?? '').split(';')[0]!]);
    } finally {
      controller.abort();
    }
    await check('get', '/stream', await get('/stream'));
  });

  test('the WebSub hub answers as documented', async () => {
    const form = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.topic': 'oa/websub', 'hub.callback': `${sink.url}/cb`, 'hub.verify': 'sync', 'hub.secret': 's' });
    await check('post', '/hub', await post('/hub', form));
    await check('post', '/hub', await post('/hub', new URLSearchParams({ 'hub.mode': 'bogus' })));
    await check('post', '/publish', await post('/publish?hub.topic=oa/websub', '<feed/>', { 'content-type': 'application/atom+xml' }));
    const page = await check('get', '/hub/subscriptions', await get('/hub/subscriptions?topic=oa/websub'));
    assert.equal(page.subscriptions.length, 1);
    await check('get', '/hub/subscriptions/{id}', await get(`/hub/subscriptions/${page.subscriptions[0].id}`));
    await check('get', '/hub/topics', await get('/hub/topics'));
    await check('delete', '/hub/subscriptions/{id}', await fetch(`${hookah.url}/hub/subscriptions/${page.subscriptions[0].id}`, { method: 'DELETE' }));
    await check('get', '/hub/subscriptions/{id}', await get(`/hub/subscriptions/${page.subscriptions[0].id}`));
  });

  test('webhook queues answer as documented', async () => {
    await check('get', '/listen/{client}/{queue}', await get('/listen/oa-client/foo'));
    await check('post', '/q/{name}', await post('/q/foo', 'queued body'));
    const list = await check('get', '/read/{client}', await get('/read/oa-client'));
    assert.equal(list.messages[0].message, 'queued body');
    await check('get', '/read/{client}', await get('/read/nobody'));
    await check('post', '/q/{name}', await post('/q/missing', 'x'));
    await check('get', '/unlisten/{client}', await get('/unlisten/oa-client'));
    await check('get', '/time', await get('/time'));
    await check('post', '/reload', await post('/reload'));
  });

  test('tunnel and gateway answer as documented', async () => {
    const issued = await check('get', '/new', await get('/new'));
    await check('post', '/new', await post('/new'));
    const token = { 'x-hookah-channel-token': issued.token };
    await check('get', '/channels/{channel}', await get(`/channels/${issued.channel}`, token));
    await check('get', '/channels/{channel}', await get(`/channels/${issued.channel}`));
    await check('post', '/webhook/{channel}/{path}', await post(`/webhook/${issued.channel}/github/push`, '{}', { 'content-type': 'application/json' }));
    await check('post', '/webhook/{channel}', await post('/webhook/00000000-0000-4000-8000-000000000000', '{}'));
    await check('get', '/ws/{channel}', await get(`/ws/${issued.channel}`));
    const other = await check('get', '/new', await get('/new'));
    const client = new WebSocket(other.ws_url, { headers: { 'x-hookah-channel-token': other.token } });
    try {
      await new Promise((resolve, reject) => client.once('message', resolve).once('error', reject));
      const channels = await check('get', '/admin/tunnel/channels', await get('/admin/tunnel/channels?limit=5'));
      assert.equal(channels.channels[0].channel, other.channel);
      assert.equal(channels.channels[0].clients.length, 1);
      assert.ok(channels.channels.some((c: Json) => c.channel === issued.channel && c.queued === 1));
    } finally {
      client.terminate();
    }
    await check('get', '/admin/tunnel/channels', await get('/admin/tunnel/channels?limit=0'));
    await check('delete', '/channels/{channel}', await fetch(`${hookah.url}/channels/${issued.channel}`, { method: 'DELETE', headers: token }));
    await check('get', '/gateway', await get('/gateway'));
    await check('post', '/gateway/callback/{correlation}', await post('/gateway/callback/forged.value.mac', '{}'));
    await check('delete', '/gateway/sessions/{session}', await fetch(`${hookah.url}/gateway/sessions/nope`, { method: 'DELETE' }));
  });
});
