/**
 * Storage port for tunnel channels, gateway sessions and the tunnel's offline
 * queue. The SQLite adapter is src/store/sqlite/channel-store.ts; a Redis
 * adapter implements the same interface for scale-out.
 */

/** A tunnel channel (webhook URL) or a gateway session: both are an id plus a secret token. */
export type ChannelKind = 'tunnel' | 'gateway';

export interface ChannelRecord {
  id: string;
  kind: ChannelKind;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  tokenHash: string;
  createdAt: number;
  lastUsedAt: number;
  /** Gateway sessions: the last event id sent on the session topic, to resume from. */
  cursor?: string;
}

/** A channel with the size of its offline queue, as listings show it. */
export interface ChannelSummary extends ChannelRecord {
  queued: number;
  queuedBytes: number;
}

export interface ChannelPage {
  /** Most recently used first. */
  channels: ChannelSummary[];
  /** Every channel of the kind, listed or not. */
  total: number;
}

/** One connected tunnel client, as the admin listing shows it. */
export interface TunnelClientInfo {
  /** Unique on its node (`c1`, `c2`, …). */
  id: string;
  channel: string;
  /** The node holding its WebSocket; null on a single node. */
  node: string | null;
  connectedAt: number;
  remoteAddress: string;
  userAgent: string | null;
  /** Requests sent to it and not answered yet. */
  inFlight: number;
}

export type HeaderMap = Record<string, string | string[]>;

/** An HTTP request as it travels through the tunnel. */
export interface ForwardedRequest {
  method: string;
  /** Raw path after `/webhook/{channel}`, still percent-encoded: empty, or starting with `/`. */
  path: string;
  /** Raw query string without the `?`, or empty. */
  query: string;
  headers: HeaderMap;
  body: Buffer;
}

export interface QueuedRequest {
  /** Store-assigned, increasing in arrival order. */
  id: string;
  channel: string;
  receivedAt: number;
  request: ForwardedRequest;
}

export interface QueueBounds {
  maxCount: number;
  maxBytes: number;
  maxTotalBytes: number;
}

export type EnqueueResult = { id: string } | { full: string };

/** Why an enqueue was refused: the channel is gone, or which bound it would exceed. */
export type QueueRefusal = 'missing' | 'count' | 'bytes' | 'total';

/** The reason every ChannelStore gives (the sender sees it in the 503). */
export function queueFull(refusal: QueueRefusal, bounds: QueueBounds): EnqueueResult {
  switch (refusal) {
    case 'missing':
      return { full: 'channel does not exist' };
    case 'count':
      return { full: `the offline queue of this channel holds its maximum of ${bounds.maxCount} requests` };
    case 'bytes':
      return { full: `the offline queue of this channel would exceed its maximum of ${bounds.maxBytes} bytes` };
    case 'total':
      return { full: 'the offline queues of all channels are full' };
  }
}

export interface ChannelStore {
  create(record: { id: string; kind: ChannelKind; tokenHash: string; cursor?: string }, now?: number): Promise<ChannelRecord>;
  get(id: string): Promise<ChannelRecord | undefined>;
  /** Marks the channel as used now (its TTL counts from here). */
  touch(id: string, now?: number): Promise<void>;
  setCursor(id: string, cursor: string): Promise<void>;
  /** Deletes the channel and its queue. */
  remove(id: string): Promise<boolean>;
  count(): Promise<number>;
  /** Channels of `kind`, most recently used first, at most `limit`, and how many there are in all. */
  list(kind: ChannelKind, limit: number): Promise<ChannelPage>;
  /** Deletes channels of `kind` (with their queues) last used before `before`, except those in `keep`; returns their ids. */
  expire(kind: ChannelKind, before: number, keep: ReadonlySet<string>): Promise<string[]>;

  /** Appends to the channel's offline queue unless a bound would be exceeded. */
  enqueue(channel: string, request: ForwardedRequest, bounds: QueueBounds, now?: number): Promise<EnqueueResult>;
  /** The oldest queued request of the channel. */
  peek(channel: string): Promise<QueuedRequest | undefined>;
  /** Removes one queued request once it has been answered. */
  ack(channel: string, id: string): Promise<boolean>;
  queueStats(channel: string): Promise<{ count: number; bytes: number }>;
}

/** A WebSocket holder as the cluster registry knows it: a tunnel client or a gateway connection. */
export interface PresenceEntry {
  kind: ChannelKind;
  /** The tunnel channel or gateway session. */
  channel: string;
  /** Unique on its node. */
  id: string;
  connectedAt: number;
  remoteAddress: string;
  userAgent: string | null;
}

/** A registered entry with the node holding it and, as of its last report, its requests in flight. */
export interface NodePresence extends PresenceEntry {
  node: string;
  inFlight: number;
}

/**
 * What the tunnel and gateway need to work across several nodes (the Redis
 * adapter is src/store/redis/tunnel-cluster.ts; a single node has none):
 * which node holds which channel's WebSockets, a message channel to each
 * node, and a claim so that only one node replays a channel's queue at a
 * time. Entries of a node that stops reporting (crashed) vanish within
 * seconds.
 */
export interface TunnelCluster {
  /** This node's id. */
  readonly node: string;
  /**
   * Registers a WebSocket holder on this node, unless the channel already has
   * `max` of them on all live nodes together; false then.
   */
  attach(entry: PresenceEntry, max: number): Promise<boolean>;
  detach(kind: ChannelKind, channel: string, id: string): Promise<void>;
  /** The other live nodes holding `channel`, with how many holders each. */
  locate(channel: string): Promise<Map<string, number>>;
  /** Every holder of `kind` on every live node. */
  entries(kind: ChannelKind): Promise<NodePresence[]>;
  /** Of `nodes`, those that are gone (no heartbeat, or no longer listening for messages). */
  gone(nodes: string[]): Promise<string[]>;
  /** Where this node's `inFlight` figures come from, reported with each heartbeat. */
  reportInFlight(kind: ChannelKind, inFlight: (channel: string, id: string) => number): void;

  /** Sends `payload` to `node`; resolves false when that node is not listening (stopped or died). */
  send(node: string, kind: ChannelKind, payload: string): Promise<boolean>;
  /** Messages other nodes sent to this one, in the order each sender sent them. */
  onMessage(kind: ChannelKind, handler: (from: string, payload: string) => void): void;
  /** This node's message subscription was interrupted and is back: messages sent to it meanwhile are lost. */
  onResubscribed(handler: () => void): void;

  /** Claims the replay of a channel's queue for `ttlMs`; a token, or undefined when another node holds it. */
  claimReplay(channel: string, ttlMs: number): Promise<string | undefined>;
  /** Extends a claim; false when it was lost (expired and taken by another node). */
  renewReplay(channel: string, token: string, ttlMs: number): Promise<boolean>;
  releaseReplay(channel: string, token: string): Promise<void>;
}
