import type { Context } from 'koa';
import { validateTopic } from '../../core/topic-pattern.ts';
import { checkDestination, parseUrl } from '../../dispatcher/ssrf.ts';
import { readRawBody } from '../../http/body.ts';
import { badRequest, HttpError } from '../../http/errors.ts';

/**
 * The `hub.*` parameters of WebSub (and PubSubHubbub 0.3/0.4) requests,
 * validated. Parameters the hub does not know are ignored, as the
 * specification requires.
 */

export type HubMode = 'subscribe' | 'unsubscribe' | 'publish';

export interface SubscriptionRequest {
  mode: 'subscribe' | 'unsubscribe';
  callback: string;
  topic: string;
  /** As requested; the policy clamps it. */
  leaseSeconds?: number;
  secret?: string;
  /** PuSH 0.3: `sync` verifies before answering. */
  verify: 'sync' | 'async';
  /** PuSH 0.3: echoed back in the verification request. */
  verifyToken?: string;
}

export interface PublishRequest {
  mode: 'publish';
  /** Topic URLs to fetch, deduplicated. */
  topics: string[];
}

export type HubRequest = SubscriptionRequest | PublishRequest;

/** Content POSTed by the publisher itself: distributed without a fetch. */
export interface FatPing {
  topic: string;
  contentType: string;
  body: Buffer;
}

/** WebSub: hub.secret MUST be less than 200 bytes. */
export const MAX_SECRET_BYTES = 199;
export const MAX_CALLBACK_LENGTH = 4096;
export const MAX_VERIFY_TOKEN_LENGTH = 1024;
export const MAX_PUBLISH_TOPICS = 100;
/** A form of hub.* parameters is small; a larger one is not a hub request. */
const MAX_FORM_BYTES = 256 * 1024;
const MAX_LEASE_SECONDS = 10 * 365 * 86_400;
const MODES: readonly HubMode[] = ['subscribe', 'unsubscribe', 'publish'];

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Reads what was POSTed: either hub.* parameters (form body, with query
 * parameters filling in what the form lacks) or a fat ping, i.e. a body that
 * is content rather than parameters, with hub.mode=publish and the topic in
 * the query string.
 */
export async function readHubInput(
  ctx: Context,
  maxBodyBytes: number,
  defaultMode: HubMode | undefined,
): Promise<{ kind: 'params'; params: URLSearchParams; raw: Buffer } | { kind: 'fat'; ping: FatPing }> {
  const query = new URLSearchParams(ctx.querystring);
  const rawType = ctx.get('content-type');
  const type = (rawType.split(';')[0] ?? '').trim().toLowerCase();
  const formLike = type === FORM_TYPE || type === '';
  const queryMode = query.get('hub.mode') ?? defaultMode;
  const publishing = queryMode === 'publish';
  const body = await readRawBody(ctx, formLike && !publishing ? Math.min(maxBodyBytes, MAX_FORM_BYTES) : maxBodyBytes);

  const form = formLike ? new URLSearchParams(body.toString('utf8')) : undefined;
  const formHasHubParams = form !== undefined && [...form.keys()].some((k) => k.startsWith('hub.'));
  if (publishing && body.length > 0 && !formHasHubParams) {
    return { kind: 'fat', ping: { topic: fatPingTopic(query), contentType: rawType || 'application/octet-stream', body } };
  }
  if (!form) {
    throw new HttpError(
      415,
      `expected an ${FORM_TYPE} body of hub.* parameters (or, to publish content directly, ` +
        `hub.mode=publish and hub.topic in the query string), got ${type}`,
    );
  }
  if (body.length > MAX_FORM_BYTES) throw new HttpError(413, `hub parameters exceed ${MAX_FORM_BYTES} bytes`);
  const params = new URLSearchParams(form);
  for (const key of new Set(query.keys())) {
    if (!params.has(key)) for (const v of query.getAll(key)) params.append(key, v);
  }
  if (!params.has('hub.mode') && defaultMode) params.set('hub.mode', defaultMode);
  return { kind: 'params', params, raw: body };
}

function fatPingTopic(query: URLSearchParams): string {
  const topics = [...query.getAll('hub.topic'), ...query.getAll('hub.url')];
  if (topics.length === 0) throw badRequest('missing hub.topic: a fat ping names its topic in the query string');
  if (new Set(topics).size > 1) throw badRequest('a fat ping publishes to exactly one hub.topic');
  const topic = topics[0]!;
  const invalid = validateTopic(topic);
  if (invalid) throw badRequest(`invalid hub.topic: ${invalid}`);
  return topic;
}

export function parseHubRequest(params: URLSearchParams, allowNetworks: string[]): HubRequest {
  const mode = single(params, 'hub.mode');
  if (mode === undefined || mode === '') throw badRequest(`missing hub.mode (expected ${MODES.join(', ')})`);
  if (!(MODES as readonly string[]).includes(mode)) {
    throw badRequest(`unknown hub.mode '${clip(mode)}' (expected ${MODES.join(', ')})`);
  }
  if (mode === 'publish') return parsePublish(params, allowNetworks);
  return parseSubscription(mode as 'subscribe' | 'unsubscribe', params, allowNetworks);
}

function parseSubscription(mode: 'subscribe' | 'unsubscribe', params: URLSearchParams, allowNetworks: string[]): SubscriptionRequest {
  const callback = single(params, 'hub.callback');
  if (!callback) throw badRequest('missing hub.callback');
  if (callback.length > MAX_CALLBACK_LENGTH) throw badRequest(`hub.callback is longer than ${MAX_CALLBACK_LENGTH} characters`);
  const url = parseUrl(callback);
  if (!url) throw badRequest('hub.callback is not an absolute URL');
  const refused = checkDestination(url, allowNetworks);
  if (refused) throw badRequest(`hub.callback is not allowed: ${refused}`);

  const topic = single(params, 'hub.topic');
  if (!topic) throw badRequest('missing hub.topic');
  const invalidTopic = validateTopic(topic);
  if (invalidTopic) throw badRequest(`invalid hub.topic: ${invalidTopic}`);

  const req: SubscriptionRequest = { mode, callback, topic, verify: parseVerify(params) };

  const lease = single(params, 'hub.lease_seconds');
  if (lease !== undefined && lease !== '') {
    if (!/^\d{1,12}$/.test(lease)) throw badRequest('hub.lease_seconds must be a whole number of seconds');
    req.leaseSeconds = Math.min(Number(lease), MAX_LEASE_SECONDS);
  }

  const secret = single(params, 'hub.secret');
  if (secret !== undefined && secret !== '') {
    if (Buffer.byteLength(secret, 'utf8') > MAX_SECRET_BYTES) throw badRequest('hub.secret must be less than 200 bytes');
    req.secret = secret;
  }

  const token = single(params, 'hub.verify_token');
  if (token !== undefined && token !== '') {
    if (token.length > MAX_VERIFY_TOKEN_LENGTH) throw badRequest(`hub.verify_token is longer than ${MAX_VERIFY_TOKEN_LENGTH} characters`);
    req.verifyToken = token;
  }
  return req;
}

/** PuSH 0.3 lists verification modes in order of preference; the first one the hub supports wins. */
function parseVerify(params: URLSearchParams): 'sync' | 'async' {
  const modes = params.getAll('hub.verify').flatMap((v) => v.split(','));
  if (modes.length === 0) return 'async';
  for (const m of modes) {
    const mode = m.trim();
    if (mode === 'sync' || mode === 'async') return mode;
  }
  throw badRequest("hub.verify must be 'sync' or 'async'");
}

function parsePublish(params: URLSearchParams, allowNetworks: string[]): PublishRequest {
  const topics = [...new Set([...params.getAll('hub.url'), ...params.getAll('hub.topic')].filter((t) => t !== ''))];
  if (topics.length === 0) throw badRequest('missing hub.url or hub.topic: name the topic URL(s) that changed');
  if (topics.length > MAX_PUBLISH_TOPICS) throw badRequest(`at most ${MAX_PUBLISH_TOPICS} topics per publish request`);
  for (const topic of topics) {
    const invalid = validateTopic(topic);
    if (invalid) throw badRequest(`invalid topic '${clip(topic)}': ${invalid}`);
    const url = parseUrl(topic);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw badRequest(`topic '${clip(topic)}' is not an http(s) URL the hub can fetch (to publish content directly, POST it as a fat ping)`);
    }
    const refused = checkDestination(url, allowNetworks);
    if (refused) throw badRequest(`topic '${clip(topic)}' cannot be fetched: ${refused}`);
  }
  return { mode: 'publish', topics };
}

/** A parameter that must appear at most once. */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1 && new Set(values).size > 1) throw badRequest(`${name} is given more than once with different values`);
  return values[0];
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
