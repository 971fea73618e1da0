import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { addConnectionOptions, connection, explainStatus, UsageError, type Connection, type ConnectionFlags } from './connection.ts';
import { formatBytes } from '../text/format.ts';
import { Progress } from './progress.ts';

interface SendFlags extends ConnectionFlags {
  contentType?: string;
  event?: string;
  retries?: string;
  timeout?: string;
  header?: string[];
  json?: boolean;
  quiet?: boolean;
}

/** Standard input is read whole (the server needs a length); this bounds the memory it may take. */
const MAX_STDIN_BYTES = 1024 * 1024 * 1024;
/** A server that stops reading or answering for this long is given up on. */
const IDLE_TIMEOUT_MS = 60_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.xml': 'application/xml',
  '.atom': 'application/atom+xml',
  '.rss': 'application/rss+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.js': 'text/javascript; charset=utf-8',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.bin': 'application/octet-stream',
};

const EXAMPLES = `
Examples:
  $ hookah send orders/created order.json              publish a file to a topic
  $ echo '{"id":1}' | hookah send orders/created       publish standard input (sniffed as JSON)
  $ hookah send https://example.com/hook event.json --retries 5 -H 'X-Tenant: acme'
  $ hookah send reports *.pdf                           one message per file, with progress

A target starting with http:// or https:// is a webhook destination
(POST /dispatch?_url=…); anything else is a topic (POST /dispatch?_topic=…).
Prints one line per message: the message id and its status URL, or the
event id of a topic message. Exit status: 0 all accepted, 1 some failed,
2 bad usage.`;

export function addSendCommand(program: Command): Command {
  const cmd = program
    .command('send')
    .description('publish a message to a topic, or deliver a webhook to a URL, through POST /dispatch')
    .argument('<target>', 'a topic (e.g. orders/created) or a destination URL (http:// or https://)')
    .argument('[files...]', 'files to send, one message each; none, or "-", reads standard input')
    .option('-t, --content-type <type>', 'Content-Type of every message (default: by file extension, else sniffed: JSON, UTF-8 text or binary)')
    .option('-e, --event <type>', 'event type of a topic message (the SSE event: field)')
    .option('--retries <n>', 'URL only: delivery attempts, the first included (server default: dispatcher.retrySchedule)')
    .option('--timeout <duration>', 'URL only: per-attempt timeout, e.g. 500ms or 10s')
    .option('-H, --header <name:value>', 'URL only: add a header to the delivery (repeatable)', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--json', "print each server answer as one JSON line instead of a summary")
    .option('-q, --quiet', 'no progress output on stderr');
  return addConnectionOptions(cmd)
    .addHelpText('after', EXAMPLES)
    .action(async (target: string, files: string[], flags: SendFlags) => {
      process.exitCode = await send(target, files, flags);
    });
}

interface Source {
  label: string;
  size: number;
  contentType: string;
  open(): Readable;
}

interface Answer {
  status: number;
  body: string;
}

/** `hookah send`: returns the exit status. */
export async function send(target: string, files: string[], flags: SendFlags): Promise<number> {
  let conn: Connection;
  let query: URLSearchParams;
  let sources: Source[];
  try {
    conn = connection(flags);
    query = dispatchQuery(target, flags);
    sources = await openSources(files.length === 0 ? ['-'] : files, flags.contentType);
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    throw err;
  }
  const url = new URL(`${conn.base}/dispatch?${query}`);
  const progress = new Progress(sources.length, { quiet: flags.quiet });
  const isUrl = query.has('_url');
  let ok = 0;
  let failed = 0;
  for (const [i, source] of sources.entries()) {
    progress.start(i + 1, source.label, source.size);
    let answer: Answer;
    try {
      answer = await upload(url, { ...conn.headers, 'content-type': source.contentType }, source, (n) => progress.sent(n));
    } catch (err) {
      failed++;
      const reason = `cannot reach ${conn.base}: ${(err as Error).message}`;
      progress.done(`failed: ${reason}`);
      process.stderr.write(`hookah send: ${source.label}: ${reason}\n`);
      continue;
    }
    if (answer.status !== 202) {
      failed++;
      const reason = explainStatus(answer.status, reasonOf(answer.body));
      progress.done(`refused (${answer.status})`);
      process.stderr.write(`hookah send: ${source.label}: server answered ${answer.status}: ${reason}\n`);
      if (answer.status === 401 || answer.status === 403) break; // the same credentials will not work for the next file either
      continue;
    }
    ok++;
    const body = parseAnswer(answer.body);
    const line = isUrl
      ? `${body.id ?? '?'}${body.status_url ? ` ${body.status_url}` : ''}${body.duplicate ? ' (duplicate)' : ''}`
      : `${body.event_id ?? body.id ?? '?'} ${query.get('_topic')}${body.duplicate ? ' (duplicate)' : ''}`;
    progress.done(`202 ${body.id ?? body.event_id ?? ''}`.trim());
    const prefix = sources.length > 1 ? `${source.label}\t` : '';
    process.stdout.write(flags.json ? `${answer.body.trim()}\n` : `${prefix}${isUrl ? 'queued' : 'published'} ${line}\n`);
  }
  progress.summary(ok, failed);
  return failed === 0 ? 0 : 1;
}

function dispatchQuery(target: string, flags: SendFlags): URLSearchParams {
  const q = new URLSearchParams();
  const isUrl = /^https?:\/\//i.test(target);
  if (isUrl) {
    try {
      new URL(target);
    } catch {
      throw new UsageError(`${target} is not a valid URL`);
    }
    q.set('_url', target);
    if (flags.event !== undefined) throw new UsageError('--event applies to topics only');
    if (flags.retries !== undefined) {
      if (!/^\d{1,3}$/.test(flags.retries) || Number(flags.retries) < 1) throw new UsageError(`--retries must be a whole number of attempts (1 or more), got ${flags.retries}`);
      q.set('_retries', flags.retries);
    }
    if (flags.timeout !== undefined) q.set('_timeout', flags.timeout);
    for (const h of flags.header ?? []) {
      const colon = h.indexOf(':');
      if (colon <= 0) throw new UsageError(`--header must be "Name: value", got ${h}`);
      q.append(`_header.${h.slice(0, colon).trim()}`, h.slice(colon + 1).trim());
    }
    return q;
  }
  if (!target || /\s/.test(target)) throw new UsageError(`"${target}" is neither a URL (http:// or https://) nor a topic name (no whitespace)`);
  if (flags.retries !== undefined || flags.timeout !== undefined || (flags.header?.length ?? 0) > 0) {
    throw new UsageError('--retries, --timeout and --header apply to URL targets only (a topic is not delivered by the dispatcher)');
  }
  q.set('_topic', target);
  if (flags.event !== undefined) q.set('_event', flags.event);
  return q;
}

async function openSources(names: string[], contentType: string | undefined): Promise<Source[]> {
  if (names.filter((n) => n === '-').length > 1) throw new UsageError('standard input ("-") can be sent only once');
  const sources: Source[] = [];
  // Every file is checked before anything is sent, so a typo does not leave a half-sent batch.
  for (const name of names) {
    if (name === '-') {
      if (process.stdin.isTTY) process.stderr.write('hookah send: reading the message from standard input (end with Ctrl-D)…\n');
      const body = await readStdin();
      sources.push({ label: 'stdin', size: body.length, contentType: contentType ?? sniff(body), open: () => Readable.from([body]) });
      continue;
    }
    let size: number;
    try {
      const stat = statSync(name);
      if (!stat.isFile()) throw new UsageError(`${name} is not a file`);
      size = stat.size;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    sources.push({
      label: basename(name),
      size,
      contentType: contentType ?? TYPES[extname(name).toLowerCase()] ?? (await sniffFile(name)),
      open: () => createReadStream(name, { highWaterMark: 256 * 1024 }),
    });
  }
  return sources;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) throw new UsageError(`standard input is larger than ${formatBytes(MAX_STDIN_BYTES)}; send a file instead`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** JSON, UTF-8 text or bytes, by looking at the content. */
export function sniff(body: Buffer): string {
  const text = body.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(body) || text.includes('\0')) return 'application/octet-stream';
  const trimmed = text.trim();
  if (/^[[{]/.test(trimmed)) {
    try {
      JSON.parse(trimmed);
      return 'application/json';
    } catch {
      // text that merely starts like JSON
    }
  }
  return 'text/plain; charset=utf-8';
}

async function sniffFile(name: string): Promise<string> {
  const head: Buffer[] = [];
  let n = 0;
  for await (const chunk of createReadStream(name, { start: 0, end: 4095 }) as AsyncIterable<Buffer>) {
    head.push(chunk);
    n += chunk.length;
  }
  const sample = Buffer.concat(head, n);
  // A cut in the middle of a UTF-8 sequence would look binary; JSON cannot be judged from a prefix.
  const type = sniff(sample.subarray(0, Math.max(0, sample.length - 3)));
  return type === 'application/json' ? type : type.startsWith('text/') || sample.length === 0 ? 'text/plain; charset=utf-8' : type;
}

/** Streams the body with a Content-Length (so the server can refuse an oversized one at once), reporting bytes written. */
function upload(url: URL, headers: Record<string, string>, source: Source, onSent: (bytes: number) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(source.size) } });
    const body = source.open();
    let settled = false;
    const finish = (err: Error | undefined, answer?: Answer) => {
      if (settled) return;
      settled = true;
      body.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      // An early answer (413, 401) stops the upload; the rest of the body is not needed.
      body.unpipe(req);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(c);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => finish(err));
    });
    let sent = 0;
    body.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      onSent(sent);
    });
    body.on('error', (err) => {
      req.destroy();
      finish(err);
    });
    body.pipe(req);
  });
}

function parseAnswer(text: string): { id?: string | null; status_url?: string | null; duplicate?: boolean; event_id?: string } {
  try {
    return JSON.parse(text) as { id?: string };
  } catch {
    return {};
  }
}

function reasonOf(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: string };
    return body.error ?? text;
  } catch {
    return text.trim();
  }
}

function usage(message: string): number {
  process.stderr.write(`hookah send: ${message}\n`);
  return 2;
}
