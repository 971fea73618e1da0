import type { IncomingHttpHeaders } from 'node:http';
import { parseDuration } from '../../config/duration.ts';
import { validatePattern } from '../../core/topic-pattern.ts';
import { badRequest } from '../../http/errors.ts';

/** Most topic patterns one connection may follow. */
export const MAX_TOPICS_PER_CONNECTION = 64;

type Query = Record<string, string | string[] | undefined>;

export function queryValues(query: Query, name: string): string[] {
  const v = query[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function queryValue(query: Query, name: string): string | undefined {
  const values = queryValues(query, name);
  if (values.length > 1) throw badRequest(`'${name}' may be given only once`);
  return values[0];
}

/** The `topic` parameters of a subscription: at least one, each a valid name or wildcard pattern. */
export function parseTopics(query: Query): string[] {
  const topics = [...new Set(queryValues(query, 'topic'))];
  if (topics.length === 0) throw badRequest("at least one 'topic' parameter is required (e.g. ?topic=orders/created)");
  return checkPatterns(topics);
}

export function checkPatterns(topics: string[]): string[] {
  if (topics.length > MAX_TOPICS_PER_CONNECTION) {
    throw badRequest(`at most ${MAX_TOPICS_PER_CONNECTION} topics per connection, got ${topics.length}`);
  }
  for (const t of topics) {
    const problem = validatePattern(t);
    if (problem) throw badRequest(`invalid topic '${t.slice(0, 100)}': ${problem}`);
  }
  return topics;
}

/** Event ids are opaque to clients; this only keeps junk out of the store query. */
const ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

export function checkId(value: string, name: string): string {
  if (!ID_RE.test(value)) throw badRequest(`'${name}' must be an event id as returned by Hookah, got '${value.slice(0, 70)}'`);
  return value;
}

/**
 * Where a resuming reader starts: the SSE `Last-Event-ID` header wins (a
 * browser sends it on reconnect), then `?last_event_id=`, then `?since=`.
 */
export function parseResumeId(query: Query, headers: IncomingHttpHeaders): string | undefined {
  const header = headers['last-event-id'];
  if (typeof header === 'string' && header.trim() !== '') return checkId(header.trim(), 'Last-Event-ID');
  const lastEventId = queryValue(query, 'last_event_id');
  if (lastEventId) return checkId(lastEventId, 'last_event_id');
  const since = queryValue(query, 'since');
  if (since) return checkId(since, 'since');
  return undefined;
}

export function parseDurationParam(query: Query, name: string, fallback: number, max: number): number {
  const raw = queryValue(query, name);
  if (raw === undefined || raw === '') return fallback;
  const ms = parseDuration(raw);
  if (ms === undefined) throw badRequest(`'${name}' must be a duration such as 500ms, 30s or 2m (a bare number is milliseconds), got '${raw.slice(0, 40)}'`);
  return Math.min(ms, max);
}

export function parseIntParam(query: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = queryValue(query, name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`'${name}' must be an integer from ${min} to ${max}, got '${raw.slice(0, 40)}'`);
  return n;
}

/** Decodes a path tail such as `orders%2Fcreated/x` into `orders/created/x`. */
export function decodePath(raw: string): string {
  try {
    return raw
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
  } catch {
    throw badRequest('malformed percent-encoding in the path');
  }
}
