import type { Context } from 'koa';
import { toEnvelope } from '../../core/event.ts';
import type { TopicInfo } from '../../core/ports.ts';
import { validatePattern, validateTopic } from '../../core/topic-pattern.ts';
import { HttpError, badRequest } from '../../http/errors.ts';
import type { StreamDeps } from './deps.ts';
import { checkId, decodePath, parseIntParam, queryValue } from './params.ts';

export const DEFAULT_TOPICS_LIMIT = 1000;
export const MAX_TOPICS_LIMIT = 10_000;
export const DEFAULT_MESSAGES_LIMIT = 100;
export const MAX_MESSAGES_LIMIT = 1000;

const PREFIX = '/topics/';

/** What a path under /topics/ asks for. Topics may hold `/`, so the path is read from the right. */
type TopicPath =
  | { kind: 'info'; topic: string }
  | { kind: 'messages'; topic: string }
  | { kind: 'redeliver'; topic: string; id: string };

export function parseTopicPath(path: string): TopicPath {
  const segments = path.slice(PREFIX.length).split('/');
  const n = segments.length;
  if (n >= 4 && segments[n - 1] === 'redeliver' && segments[n - 3] === 'messages') {
    return { kind: 'redeliver', topic: decodePath(segments.slice(0, n - 3).join('/')), id: decodePath(segments[n - 2]!) };
  }
  if (n >= 2 && segments[n - 1] === 'messages') return { kind: 'messages', topic: decodePath(segments.slice(0, n - 1).join('/')) };
  return { kind: 'info', topic: decodePath(segments.join('/')) };
}

function describe(deps: StreamDeps, t: TopicInfo) {
  return {
    topic: t.topic,
    count: t.count,
    bytes: t.bytes,
    last_id: t.lastId ?? null,
    last_at: t.lastAt === undefined ? null : new Date(t.lastAt).toISOString(),
    subscribers: deps.rt.bus.subscriberCounts(t.topic),
  };
}

/** `GET /topics`: every topic in the backlog the caller may read. */
export async function listTopics(ctx: Context, deps: StreamDeps): Promise<void> {
  const { rt } = deps;
  await rt.auth.authorize(ctx, 'read');
  const limit = parseIntParam(ctx.query, 'limit', DEFAULT_TOPICS_LIMIT, 1, MAX_TOPICS_LIMIT);
  const all = await rt.stores.events.topics();
  const visible: TopicInfo[] = [];
  for (const t of all) {
    if (visible.length === limit) break;
    if (await mayRead(ctx, deps, t.topic)) visible.push(t);
  }
  ctx.body = { topics: visible.map((t) => describe(deps, t)), truncated: visible.length === limit && all.length > limit };
}

/** Hides topics the caller has no read permission on instead of failing the whole list. */
async function mayRead(ctx: Context, deps: StreamDeps, topic: string): Promise<boolean> {
  try {
    await deps.rt.auth.authorize(ctx, 'read', topic);
    return true;
  } catch (err) {
    if (err instanceof HttpError && err.status === 403) return false;
    throw err;
  }
}

/** `GET /topics/<topic>` and `GET /topics/<topic>/messages`. */
export async function getTopicPath(ctx: Context, deps: StreamDeps): Promise<void> {
  const target = parseTopicPath(ctx.path);
  if (target.kind === 'redeliver') throw new HttpError(405, 'redeliver needs POST', { allow: 'POST' });
  if (target.kind === 'info') return topicInfo(ctx, deps, target.topic);
  return topicMessages(ctx, deps, target.topic);
}

async function topicInfo(ctx: Context, deps: StreamDeps, topic: string): Promise<void> {
  const problem = validateTopic(topic);
  if (problem) throw badRequest(`invalid topic: ${problem}`);
  await deps.rt.auth.authorize(ctx, 'read', topic);
  const info = (await deps.rt.stores.events.topics()).find((t) => t.topic === topic);
  if (!info) throw new HttpError(404, `topic '${topic}' has nothing in the backlog`);
  ctx.body = describe(deps, info);
}

async function topicMessages(ctx: Context, deps: StreamDeps, topic: string): Promise<void> {
  const problem = validatePattern(topic);
  if (problem) throw badRequest(`invalid topic: ${problem}`);
  const sinceRaw = queryValue(ctx.query, 'since');
  const since = sinceRaw ? checkId(sinceRaw, 'since') : undefined;
  const limit = parseIntParam(ctx.query, 'limit', DEFAULT_MESSAGES_LIMIT, 1, MAX_MESSAGES_LIMIT);
  await deps.rt.auth.authorize(ctx, 'read', topic);
  const { events, gap } = await deps.rt.stores.events.read({ patterns: [topic], afterId: since, limit });
  ctx.set('cache-control', 'no-store');
  ctx.body = {
    topic,
    messages: events.map(toEnvelope),
    next: events.length > 0 ? events[events.length - 1]!.id : (since ?? null),
    gap,
  };
}

/** `POST /topics/<topic>/messages/<id>/redeliver`: publishes a stored message again, under a new id. */
export async function postTopicPath(ctx: Context, deps: StreamDeps): Promise<void> {
  const target = parseTopicPath(ctx.path);
  if (target.kind !== 'redeliver') throw new HttpError(405, 'only …/messages/<id>/redeliver accepts POST', { allow: 'GET' });
  const { rt } = deps;
  const problem = validateTopic(target.topic);
  if (problem) throw badRequest(`invalid topic: ${problem}`);
  const id = checkId(target.id, 'id');
  await rt.auth.authorize(ctx, 'admin', target.topic);
  const original = await rt.stores.events.get(id);
  if (!original || original.topic !== target.topic) {
    throw new HttpError(404, `no message ${id} on topic '${target.topic}' in the backlog (retention may have dropped it)`);
  }
  const copy = await rt.bus.publish({
    topic: original.topic,
    headers: original.headers,
    contentType: original.contentType,
    body: original.body,
    ...(original.type ? { type: original.type } : {}),
    source: 'redeliver',
  });
  ctx.status = 202;
  ctx.body = { id: copy.id, original_id: original.id };
}
