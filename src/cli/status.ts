import type { Command } from 'commander';
import type { OverviewJson } from '../openapi/schemas.ts';
import { addConnectionOptions, connection, errorReason, explainStatus, UsageError, type ConnectionFlags } from './connection.ts';
import { formatBytes } from '../text/format.ts';
import { formatUptime } from '../text/format.ts';

interface StatusFlags extends ConnectionFlags {
  json?: boolean;
  topics: string;
}

const REQUEST_TIMEOUT_MS = 15_000;

const EXAMPLES = `
Examples:
  $ hookah status
  $ hookah status --server https://hooks.example.com --user root:secret
  $ hookah status --json | jq .deliveries

Reads GET /admin/overview, which needs the admin permission when the server
has users. Exit status: 0, 1 when the server cannot be reached or refuses,
2 bad usage.`;

export function addStatusCommand(program: Command): Command {
  const cmd = program
    .command('status')
    .description('show the delivery queue, subscribers by type, tunnel clients and the busiest topics of a server')
    .option('--topics <n>', 'how many topics to list (0 for none)', '20')
    .option('--json', 'print the server overview as JSON');
  return addConnectionOptions(cmd)
    .addHelpText('after', EXAMPLES)
    .action(async (flags: StatusFlags) => {
      process.exitCode = await status(flags);
    });
}

export async function status(flags: StatusFlags): Promise<number> {
  let base: string;
  let headers: Record<string, string>;
  try {
    ({ base, headers } = connection(flags));
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    throw err;
  }
  if (!/^\d{1,4}$/.test(flags.topics)) return fail(`--topics must be a whole number from 0 to 2000, got ${flags.topics}`, 2);
  const topics = Number(flags.topics);
  let res: Response;
  try {
    res = await fetch(`${base}/admin/overview?limit=${Math.max(1, Math.min(topics, 2000))}`, {
      headers: { ...headers, accept: 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    return fail(`cannot reach ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, 1);
  }
  if (!res.ok) return fail(`server answered ${res.status}: ${explainStatus(res.status, await errorReason(res))}`, 1);
  const overview = (await res.json()) as OverviewJson;
  process.stdout.write(flags.json ? `${JSON.stringify(overview, null, 2)}\n` : render(overview, topics));
  return 0;
}

function render(o: OverviewJson, topicLimit: number): string {
  const lines: string[] = [];
  const s = o.server;
  lines.push(`Hookah ${s.version} at ${s.public_url} (${s.storage}, up ${formatUptime(s.uptime_seconds)}, access control ${s.auth_enabled ? 'on' : 'off'})`);
  lines.push('');
  const q = o.deliveries;
  const rows: [string, string][] = [
    ['Queue depth', `${q.pending + q.in_flight} (pending ${q.pending}, in flight ${q.in_flight})`],
    ['Deliveries', `failed ${q.failed}, delivered ${q.delivered}`],
    ['Subscribers', counts(o.subscribers)],
    ['WebSub', o.websub.active_subscriptions === null ? 'unknown' : `${o.websub.active_subscriptions} active subscriptions`],
    [
      'Tunnel',
      `${o.tunnel.channels ?? 'unknown'} channels, ${o.tunnel.clients ?? 'unknown'} clients connected, ${o.tunnel.gateway_connections ?? 'unknown'} gateway connections`,
    ],
  ];
  for (const [k, v] of rows) lines.push(`${k.padEnd(13)} ${v}`);
  if (topicLimit > 0) {
    lines.push('');
    if (o.topics.length === 0) lines.push('No topics yet.');
    else {
      const table = [
        ['TOPIC', 'RATE 1M', 'RATE 5M', 'PUBLISHED', 'BACKLOG', 'LAST MESSAGE', 'SUBSCRIBERS'],
        ...o.topics.slice(0, topicLimit).map((t) => [
          t.topic,
          rate(t.rate_1m),
          rate(t.rate_5m),
          String(t.published),
          `${t.count} (${formatBytes(t.bytes)})`,
          t.last_at ? ago(t.last_at, o.generated_at) : '-',
          counts(t.subscribers),
        ]),
      ];
      const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
      for (const r of table) lines.push(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
      const shown = Math.min(topicLimit, o.topics.length);
      if (o.topics_total > shown) lines.push(`… and ${o.topics_total - shown} more topics (--topics ${o.topics_total})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function counts(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .filter(([kind, n]) => n > 0 && kind !== 'internal')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function rate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  return `${perSecond.toFixed(2)}/s`;
}

function ago(iso: string, nowIso: string): string {
  const s = Math.max(0, Math.round((Date.parse(nowIso) - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}


function fail(message: string, code: number): number {
  process.stderr.write(`hookah status: ${message}\n`);
  return code;
}
