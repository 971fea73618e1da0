import { z } from 'zod';

/**
 * JSON bodies of Hookah's HTTP API, as zod schemas. They are the single
 * source of the OpenAPI document's `components.schemas` (through
 * z.toJSONSchema), of response types in the dashboard, and of the tests that
 * check real responses against the document.
 *
 * Every schema is registered under the id it has in the document. Objects
 * are closed (`additionalProperties: false` in the document) so that a field
 * added to a response without documenting it fails the tests.
 */
export const schemaRegistry = z.registry<{ id: string; description?: string }>();

function named<T extends z.ZodType>(id: string, description: string, schema: T): T {
  schemaRegistry.add(schema, { id, description });
  return schema;
}

const isoTime = z.string().describe('ISO 8601 date-time, UTC with milliseconds');
const count = z.number().int().min(0);
const headers = z.record(z.string(), z.string()).describe('Lower-cased header names to values');

export const ErrorBody = named('Error', 'Every JSON error: a 4xx/5xx with the reason.', z.object({ error: z.string() }));

export const QueueErrorBody = named(
  'QueueError',
  'Errors of the webhook-queue endpoints (the original Webhook Queue shape plus `error`).',
  z.object({ message: z.string(), refresh: z.boolean(), error: z.string() }),
);

export const Health = named(
  'Health',
  'Liveness and storage reachability.',
  z.object({ status: z.enum(['ok', 'shutting-down']), storage: z.enum(['sqlite', 'redis']) }),
);

export const Envelope = named(
  'Envelope',
  'One message as every streaming subscriber sees it (docs/streams.md, "The envelope").',
  z.object({
    id: z.string(),
    topic: z.string(),
    type: z.string().optional(),
    received_at: isoTime,
    source: z.string(),
    headers,
    content_type: z.string(),
    data: z.unknown().describe('Parsed JSON, UTF-8 text, or base64 (then `encoding` is "base64")'),
    encoding: z.literal('base64').optional(),
  }),
);

// ---- dispatch and the delivery queue -------------------------------------

export const DispatchAccepted = named(
  'DispatchAccepted',
  'A webhook (and/or topic event) stored and queued.',
  z.object({
    id: z.string().nullable(),
    status_url: z.string().nullable(),
    duplicate: z.boolean(),
    event_id: z.string().optional(),
  }),
);

const deliveryStatus = z.enum(['pending', 'in_flight', 'delivered', 'failed']);
const deliveryKind = z.enum(['dispatch', 'websub', 'errback', 'callback', 'tunnel', 'gateway']);

export const Attempt = named(
  'Attempt',
  'One delivery attempt.',
  z.object({
    n: z.number().int().min(1),
    started_at: isoTime,
    duration_ms: z.number().min(0),
    status: z.number().int().nullable().describe('HTTP status; null when no response arrived'),
    error: z.string().nullable(),
    response_excerpt: z.string().nullable(),
  }),
);

const messageFields = {
  id: z.string(),
  kind: deliveryKind,
  url: z.string(),
  method: z.string(),
  status: deliveryStatus,
  created_at: isoTime,
  attempt_count: count,
  max_attempts: z.number().int().min(1),
  timeout_ms: z.number().int().min(1),
  next_attempt_at: isoTime.nullable(),
  delivered_at: isoTime.nullable(),
  last_error: z.string().nullable(),
  errback: z.string().nullable(),
  callback: z.string().nullable(),
  topic: z.string().nullable(),
  event_id: z.string().nullable(),
  ref: z.string().nullable(),
};

export const MessageSummary = named('MessageSummary', 'A delivery without its attempts.', z.object(messageFields));
export const Message = named('Message', 'A delivery with every attempt.', z.object({ ...messageFields, attempts: z.array(Attempt) }));
export const MessagePage = named(
  'MessagePage',
  'Deliveries, newest first; pass `next` as `before` for the next page.',
  z.object({ messages: z.array(MessageSummary), next: z.string().nullable() }),
);
export const RetryAccepted = named('RetryAccepted', 'The message will be attempted again now.', z.object({ id: z.string(), status: z.literal('pending') }));

// ---- WebSub hub ----------------------------------------------------------

export const HubSubscription = named(
  'HubSubscription',
  'A verified WebSub subscription (the secret is never shown).',
  z.object({
    id: z.string(),
    topic: z.string(),
    callback: z.string(),
    has_secret: z.boolean(),
    lease_seconds: z.number().int().min(0),
    created_at: isoTime,
    verified_at: isoTime,
    expires_at: isoTime,
    expired: z.boolean(),
  }),
);
export const HubSubscriptionPage = named(
  'HubSubscriptionPage',
  'Subscriptions in id order; `next_after` is present when there may be more.',
  z.object({ subscriptions: z.array(HubSubscription), next_after: z.string().optional() }),
);
export const HubTopicList = named(
  'HubTopicList',
  'Subscription counts per topic.',
  z.object({ topics: z.array(z.object({ topic: z.string(), subscriptions: count, expired: count })) }),
);
export const FatPingAccepted = named('FatPingAccepted', 'Content published on the topic.', z.object({ id: z.string(), topic: z.string() }));

// ---- streams and the backlog ---------------------------------------------

const subscriberCounts = z.record(z.string(), count).describe('Live subscribers by kind: stream, sse, websocket, poll, websub, queue, internal…');

export const Topic = named(
  'Topic',
  'A topic in the backlog.',
  z.object({
    topic: z.string(),
    count,
    bytes: count,
    last_id: z.string().nullable(),
    last_at: isoTime.nullable(),
    subscribers: subscriberCounts,
  }),
);
export const TopicList = named('TopicList', 'Topics the caller may read, by name.', z.object({ topics: z.array(Topic), truncated: z.boolean() }));
export const TopicMessages = named(
  'TopicMessages',
  'Backlog messages, oldest first; page with `since=<next>`.',
  z.object({ topic: z.string(), messages: z.array(Envelope), next: z.string().nullable(), gap: z.boolean() }),
);
export const PollResult = named(
  'PollResult',
  'Messages newer than `since` (possibly none after the timeout).',
  z.object({ messages: z.array(Envelope), next: z.string().nullable(), gap: z.boolean() }),
);
export const Redelivered = named('Redelivered', 'The stored message published again under a new id.', z.object({ id: z.string(), original_id: z.string() }));
export const Published = named('Published', 'The id of the message stored on the topic.', z.object({ id: z.string() }));
export const StreamControl = named(
  'StreamControl',
  'A control line of a chunked stream (no `id`): a gap in the replay, or the slow-consumer warning before a disconnect.',
  z.union([
    z.object({ gap: z.literal(true), since: z.string(), reason: z.string() }),
    z.object({ warning: z.literal('slow consumer'), reason: z.string(), buffered_bytes: count, limit_bytes: count }),
  ]),
);

// ---- webhook queues ------------------------------------------------------

const wireId = z.union([z.number().int(), z.string()]);
export const QueueMessageList = named(
  'QueueMessageList',
  'What arrived on the queue since the client last read.',
  z.object({
    time: z.string().describe('Server start, Unix seconds'),
    current_message: wireId.describe('Id of the newest message in the queue'),
    messages: z.array(z.object({ id: wireId, message: z.string(), encoding: z.literal('base64').optional() })),
  }),
);
export const NewPassword = named('NewPassword', 'Body of POST /setPassword.', z.object({ password: z.string().min(6).max(1024) }));

// ---- tunnel and gateway --------------------------------------------------

export const ChannelIssued = named(
  'ChannelIssued',
  'A new tunnel channel; the token is shown only here.',
  z.object({ channel: z.string(), token: z.string(), webhook_url: z.string(), ws_url: z.string(), ttl_seconds: count }),
);
export const ChannelState = named(
  'ChannelState',
  'A tunnel channel and its offline queue.',
  z.object({
    channel: z.string(),
    webhook_url: z.string(),
    ws_url: z.string(),
    created_at: isoTime,
    last_used_at: isoTime,
    expires_at: isoTime.nullable().describe('null while a client is connected'),
    clients: count,
    queued: count,
    queued_bytes: count,
    mode: z.enum(['balance', 'broadcast']),
    offline: z.enum(['queue', 'reject']),
  }),
);
export const TunnelQueued = named(
  'TunnelQueued',
  'No tunnel client was connected: the request was stored for replay.',
  z.object({ id: z.string(), status: z.literal('queued'), channel: z.string() }),
);
export const TunnelChannelList = named(
  'TunnelChannelList',
  'Tunnel channels with their connected clients (GET /admin/tunnel/channels): channels with clients first, then the most recently used.',
  z.object({
    channels: z.array(
      z.object({
        channel: z.string(),
        created_at: isoTime,
        last_used_at: isoTime,
        expires_at: isoTime.nullable().describe('null while a client is connected'),
        queued: count,
        queued_bytes: count,
        clients: z.array(
          z.object({
            id: z.string().describe('Client id, unique on its node'),
            node: z.string().nullable().describe('The node holding the WebSocket; null on a single node'),
            connected_at: isoTime,
            remote_address: z.string(),
            user_agent: z.string().nullable(),
            in_flight: count.describe('Requests sent to the client and not answered yet'),
          }),
        ),
      }),
    ),
    total: count.describe('Tunnel channels stored, listed or not'),
    truncated: z.boolean(),
    mode: z.enum(['balance', 'broadcast']),
  }),
);
export const CallbackAccepted = named(
  'CallbackAccepted',
  'A gateway callback stored on the session topic (relayed at once when the session is connected).',
  z.object({ id: z.string(), status: z.enum(['relayed', 'stored']) }),
);

// ---- operations ----------------------------------------------------------

export const OverviewTopic = named(
  'OverviewTopic',
  'A topic with its backlog, publish rates on this node and subscribers by kind.',
  z.object({
    topic: z.string(),
    count,
    bytes: count,
    last_id: z.string().nullable(),
    last_at: isoTime.nullable(),
    published: count.describe('Messages published on this node since it started'),
    rate_1m: z.number().min(0).describe('Messages per second, moving average over about a minute'),
    rate_5m: z.number().min(0).describe('Messages per second, moving average over about five minutes'),
    subscribers: subscriberCounts,
  }),
);

export const Overview = named(
  'Overview',
  'Everything the dashboard shows at a glance.',
  z.object({
    generated_at: isoTime,
    server: z.object({
      version: z.string(),
      storage: z.enum(['sqlite', 'redis']),
      started_at: isoTime,
      uptime_seconds: count,
      auth_enabled: z.boolean(),
      public_url: z.string(),
    }),
    deliveries: z.object({ pending: count, in_flight: count, delivered: count, failed: count }),
    subscribers: subscriberCounts,
    websub: z.object({ active_subscriptions: count.nullable() }),
    tunnel: z.object({
      channels: count.nullable().describe('Tunnel channels and gateway sessions stored; null when the store has no such adapter'),
      clients: count.nullable().describe('Tunnel clients connected to this node'),
      gateway_connections: count.nullable(),
    }),
    topics: z.array(OverviewTopic),
    topics_total: count,
    topics_truncated: z.boolean(),
  }),
);

export type OverviewJson = z.output<typeof Overview>;
export type TunnelChannelListJson = z.output<typeof TunnelChannelList>;
export type OverviewTopicJson = z.output<typeof OverviewTopic>;
export type MessageJson = z.output<typeof Message>;
export type MessageSummaryJson = z.output<typeof MessageSummary>;
export type MessagePageJson = z.output<typeof MessagePage>;
export type AttemptJson = z.output<typeof Attempt>;
export type HubSubscriptionJson = z.output<typeof HubSubscription>;
export type HubSubscriptionPageJson = z.output<typeof HubSubscriptionPage>;
export type EnvelopeJson = z.output<typeof Envelope>;
export type TopicListJson = z.output<typeof TopicList>;
