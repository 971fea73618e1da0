import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';

const DASHBOARD = new URL('../../examples/grafana/hookah-dashboard.json', import.meta.url);

/** Every metric family a Hookah server registers, by subsystem; the dashboard and docs rely on these names. */
const EXPECTED: Record<string, string[]> = {
  core: ['hookah_events_published_total', 'hookah_build_info', 'hookah_bus_subscribers', 'hookah_backlog_topics', 'hookah_backlog_messages', 'hookah_backlog_bytes'],
  http: ['hookah_http_requests_total', 'hookah_http_request_duration_seconds', 'hookah_http_requests_in_flight'],
  dispatcher: [
    'hookah_delivery_queue',
    'hookah_delivery_attempts_total',
    'hookah_deliveries_total',
    'hookah_deliveries_enqueued_total',
    'hookah_delivery_attempt_seconds',
    'hookah_delivery_latency_seconds',
    'hookah_dispatch_requests_total',
  ],
  hub: ['hookah_websub_subscriptions', 'hookah_websub_verifications_total', 'hookah_websub_notifications_total', 'hookah_websub_fetches_total', 'hookah_websub_subscriptions_ended_total'],
  streams: ['hookah_stream_subscribers', 'hookah_stream_messages_sent_total', 'hookah_stream_slow_consumer_disconnects_total', 'hookah_stream_connections_rejected_total'],
  tunnel: ['hookah_tunnel_clients', 'hookah_tunnel_channels', 'hookah_tunnel_requests_total', 'hookah_tunnel_request_seconds', 'hookah_tunnel_replayed_total'],
  gateway: ['hookah_gateway_connections', 'hookah_gateway_actions_total', 'hookah_gateway_callbacks_total'],
  queue: ['hookah_queue_messages_total', 'hookah_queue_refreshes_total'],
  auth: ['hookah_auth_decisions_total', 'hookah_inbound_verifications_total', 'hookah_rate_limited_total', 'hookah_config_reloads_total'],
  process: ['hookah_process_process_cpu_seconds_total', 'hookah_process_process_resident_memory_bytes', 'hookah_process_nodejs_eventloop_lag_p99_seconds'],
};

describe('GET /metrics', () => {
  let hookah: TestHookah;
  let families: Map<string, string>;
  let text: string;

  before(async () => {
    hookah = await startTestHookah();
    await fetch(`${hookah.url}/healthz`);
    await fetch(`${hookah.url}/messages/msg_nope`);
    await fetch(`${hookah.url}/no/such/path`);
    text = await (await fetch(`${hookah.url}/metrics`)).text();
    families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  });
  after(async () => {
    await hookah?.close();
  });

  for (const [subsystem, names] of Object.entries(EXPECTED)) {
    test(`registers the ${subsystem} metrics`, () => {
      const missing = names.filter((n) => !families.has(n));
      assert.deepEqual(missing, []);
    });
  }

  test('counts HTTP requests by route pattern, never by raw path', () => {
    assert.match(text, /^hookah_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1$/m);
    assert.match(text, /^hookah_http_requests_total\{method="GET",route="\/messages\/:id",status="404"\} 1$/m);
    assert.match(text, /^hookah_http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m);
    assert.doesNotMatch(text, /msg_nope|no\/such\/path/);
    assert.match(text, /^hookah_http_request_duration_seconds_count\{method="GET",route="\/healthz"\} 1$/m);
    assert.match(text, /^hookah_build_info\{version="[^"]+",storage="sqlite"\} 1$/m);
  });

  test('the example Grafana dashboard is well-formed and uses only metrics that exist', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      title: string;
      schemaVersion: number;
      panels: { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string; refId: string; datasource: { uid: string } }[] }[];
      templating: { list: { name: string; type: string }[] };
    };
    assert.ok(dashboard.uid && dashboard.title && dashboard.schemaVersion >= 36);
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    const ids = new Set<number>();
    const cells = new Set<string>();
    const known = (name: string) => families.has(name) || (/_(bucket|sum|count)$/.test(name) && families.get(name.replace(/_(bucket|sum|count)$/, '')) === 'histogram');
    const unknown: string[] = [];
    for (const p of dashboard.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is used twice`);
      ids.add(p.id);
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`);
      for (let cx = x; cx < x + w; cx++)
        for (let cy = y; cy < y + h; cy++) {
          assert.ok(!cells.has(`${cx},${cy}`), `${p.title} overlaps another panel`);
          cells.add(`${cx},${cy}`);
        }
      if (p.type === 'row') continue;
      assert.ok(['stat', 'timeseries'].includes(p.type), `${p.title}: panel type ${p.type}`);
      assert.ok(p.targets && p.targets.length > 0, `${p.title} has no query`);
      for (const t of p.targets) {
        assert.equal(t.datasource.uid, '${datasource}');
        for (const name of t.expr.match(/hookah_[a-z0-9_]+/g) ?? []) if (!known(name)) unknown.push(`${p.title}: ${name}`);
      }
    }
    assert.deepEqual(unknown, []);
    // Every subsystem shows up on the dashboard.
    const exprs = dashboard.panels.flatMap((p) => p.targets?.map((t) => t.expr) ?? []).join('\n');
    for (const prefix of ['hookah_delivery_', 'hookah_websub_', 'hookah_stream_', 'hookah_tunnel_', 'hookah_gateway_', 'hookah_queue_', 'hookah_http_', 'hookah_backlog_', 'hookah_process_']) {
      assert.ok(exprs.includes(prefix), `no panel uses ${prefix}*`);
    }
  });
});
