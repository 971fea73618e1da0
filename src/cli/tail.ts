import type { Command } from 'commander';
import { parseDuration } from '../config/duration.ts';
import { parseSse, type SseEvent } from '../http/sse-parser.ts';

interface TailFlags {
  server?: string;
  since?: string;
  json?: boolean;
  retry?: string;
  authToken?: string;
}


interface Envelope {
  id: string;
  topic: string;
  type?: string;
  received_at: string;
  content_type: string;
  data: unknown;
  encoding?: 'base64';
}

const MAX_BACKOFF_MS = 30_000;

export function addTailCommand(program: Command): Command {
  return program
    .command('tail')
    .description('follow topics live (Server-Sent Events), reconnecting and resuming from the last message seen')
    .argument('<topics...>', 'topic names or patterns (+ is one segment, a trailing # the rest)')
    .option('-s, --server <url>', 'the Hookah server (env HOOKAH_SERVER_URL)', process.env.HOOKAH_SERVER_URL ?? 'http://127.0.0.1:8080')
    .option('--since <id>', 'replay the backlog after this message id first')
    .option('--json', 'print each message envelope as one JSON line')
    .option('--retry <duration>', 'first reconnect delay (default: the server hint, 3s), doubling up to 30s')
    .option('--auth-token <token>', "the server's access token, when it has access control (env HOOKAH_AUTH_TOKEN)")
    .action((topics: string[], flags: TailFlags) => tail(topics, flags));
}

/** `hookah tail`: prints messages until SIGINT/SIGTERM; exits 1 on an error retrying cannot fix. */
export async function tail(topics: string[], flags: TailFlags): Promise<void> {
  const base = (flags.server ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${base}/stream`);
  } catch {
    return fail(`--server must be a URL such as http://127.0.0.1:8080, got ${flags.server}`);
  }
  for (const t of topics) url.searchParams.append('topic', t);
  let retryMs: number | undefined;
  if (flags.retry !== undefined) {
    retryMs = parseDuration(flags.retry);
    if (retryMs === undefined) return fail(`--retry must be a duration such as 500ms or 2s, got ${flags.retry}`);
  }
  const authToken = flags.authToken ?? process.env.HOOKAH_AUTH_TOKEN;
  const print = flags.json ? (e: SseEvent) => out(e.data) : (e: SseEvent) => out(pretty(e));

  // `hookah tail … | head` closes stdout: that is a normal way to stop.
  process.stdout.on('error', () => process.exit(0));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let lastId = flags.since;
  let delay = retryMs ?? 3000;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (lastId) headers['last-event-id'] = lastId;
        if (authToken) headers.authorization = `Bearer ${authToken}`;
        const res = await fetch(url, { headers, signal: stop.signal });
        if (!res.ok || !res.body) {
          const reason = await errorReason(res);
          // Only overload and outages are worth waiting out; a bad topic or missing permission is not.
          if (res.status !== 429 && res.status < 500) return fail(`server answered ${res.status}: ${reason}`);
          throw new Error(`server answered ${res.status}: ${reason}`);
        }
        failures = 0;
        note(`following ${topics.join(', ')} on ${base}${lastId ? ` after ${lastId}` : ''}`);
        for await (const event of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
          if (event.event === 'retry') {
            if (retryMs === undefined) delay = Number(event.data);
            continue;
          }
          if (event.event === 'gap') note(`some messages were missed: ${describeControl(event.data)}`);
          else if (event.event === 'error') note(`server warning: ${describeControl(event.data)}`);
          else print(event);
          if (event.id) lastId = event.id;
        }
        if (stop.signal.aborted) break;
        note('stream ended by the server');
      } catch (err) {
        if (stop.signal.aborted) break;
        failures++;
        note(`connection failed: ${(err as Error).message}`);
      }
      const wait = Math.min(delay * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
      note(`reconnecting in ${wait} ms${lastId ? ` (resuming after ${lastId})` : ''}`);
      await sleep(wait, stop.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

export function pretty(e: SseEvent): string {
  let env: Envelope;
  try {
    env = JSON.parse(e.data) as Envelope;
  } catch {
    return e.data;
  }
  const at = new Date(env.received_at);
  const time = Number.isNaN(at.getTime()) ? env.received_at : at.toISOString().replace('T', ' ').replace('Z', '');
  const body =
    env.encoding === 'base64'
      ? `<${Buffer.from(String(env.data), 'base64').length} bytes ${env.content_type || 'binary'}, base64> ${String(env.data)}`
      : typeof env.data === 'string'
        ? env.data
        : JSON.stringify(env.data);
  const type = env.type ? ` ${paint(35, `[${env.type}]`)}` : '';
  return `${paint(2, time)} ${paint(36, env.topic)} ${paint(33, `#${env.id}`)}${type} ${body}`;
}

function describeControl(data: string): string {
  try {
    const parsed = JSON.parse(data) as { reason?: string };
    return parsed.reason ?? data;
  } catch {
    return data;
  }
}

async function errorReason(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return text.slice(0, 200) || res.statusText;
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function note(message: string): void {
  process.stderr.write(`hookah tail: ${message}\n`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function fail(message: string): never {
  process.stderr.write(`hookah tail: ${message}\n`);
  process.exit(1);
}
