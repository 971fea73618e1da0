import { z } from 'zod';

/**
 * What a gateway client may send: one JSON object per text frame with an
 * `action`. `id` is the client's own reference, echoed in the reply.
 */

const clientId = z.union([z.string().max(128), z.number()]);
const headerName = z.string().min(1).max(256).regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'invalid header name');
const headers = z
  .record(headerName, z.string().max(8192))
  .refine((h) => Object.keys(h).length <= 50, 'at most 50 headers');

const payload = {
  data: z.unknown().optional(),
  content_type: z.string().min(1).max(256).optional(),
  /** `data` is a base64 string of the raw body. */
  encoding: z.literal('base64').optional(),
};

const dispatch = z
  .object({
    action: z.literal('dispatch'),
    id: clientId.optional(),
    url: z.string().max(2048),
    method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE', 'GET']).optional(),
    headers: headers.optional(),
    max_attempts: z.number().int().positive().max(100).optional(),
    idempotency_key: z.string().min(1).max(256).optional(),
    ...payload,
  })
  .strict();

const publish = z
  .object({
    action: z.literal('publish'),
    id: clientId.optional(),
    topic: z.string(),
    event: z.string().min(1).max(128).optional(),
    ...payload,
  })
  .strict();

const subscribe = z
  .object({
    action: z.literal('subscribe'),
    id: clientId.optional(),
    topics: z.array(z.string()).min(1).max(64),
    last_event_id: z.string().min(1).max(64).optional(),
  })
  .strict();

const unsubscribe = z
  .object({
    action: z.literal('unsubscribe'),
    id: clientId.optional(),
    topics: z.array(z.string()).min(1).max(64),
  })
  .strict();

const ping = z.object({ action: z.literal('ping'), id: clientId.optional() }).strict();

const action = z.discriminatedUnion('action', [dispatch, publish, subscribe, unsubscribe, ping]);

export type GatewayAction = z.infer<typeof action>;
export type DispatchAction = z.infer<typeof dispatch>;
export type PublishAction = z.infer<typeof publish>;

export type ParsedAction = { ok: true; action: GatewayAction } | { ok: false; error: string; id?: string | number };

export function parseAction(text: string): ParsedAction {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'message is not JSON' };
  }
  const id = typeof json === 'object' && json !== null ? (json as { id?: unknown }).id : undefined;
  const echo = typeof id === 'string' || typeof id === 'number' ? { id } : {};
  if (typeof json !== 'object' || json === null || typeof (json as { action?: unknown }).action !== 'string') {
    return { ok: false, error: 'message must be an object with an "action": dispatch, publish, subscribe, unsubscribe or ping', ...echo };
  }
  const result = action.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue.message;
    return { ok: false, error: where ? `${where}: ${message}` : message, ...echo };
  }
  return { ok: true, action: result.data };
}

export interface Payload {
  body: Buffer;
  contentType: string;
  /** The body is a JSON object, so fields may be added to it. */
  object?: Record<string, unknown>;
}

/**
 * The bytes an action's `data` stands for: a string is sent as text (or
 * decoded from base64 with `encoding`), anything else as JSON.
 */
export function payloadOf(p: { data?: unknown; content_type?: string | undefined; encoding?: 'base64' | undefined }): Payload | string {
  const { data } = p;
  if (p.encoding === 'base64') {
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return 'data must be a base64 string when encoding is base64';
    return { body: Buffer.from(data, 'base64'), contentType: p.content_type ?? 'application/octet-stream' };
  }
  if (data === undefined) return { body: Buffer.alloc(0), contentType: p.content_type ?? 'application/octet-stream' };
  if (typeof data === 'string') return { body: Buffer.from(data, 'utf8'), contentType: p.content_type ?? 'text/plain; charset=utf-8' };
  const out: Payload = { body: Buffer.from(JSON.stringify(data), 'utf8'), contentType: p.content_type ?? 'application/json' };
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) out.object = data as Record<string, unknown>;
  return out;
}
