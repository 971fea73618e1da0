/**
 * The Redis keys and pub/sub channels of the event log and the delivery
 * queue, in one place, all under a configurable prefix so several Hookah clusters can share one Redis.
 *
 * Layout (P = prefix, default `hookah:`):
 *   P seq                    INCR: the global event id sequence
 *   P t:<topic>              stream: a topic's backlog, entry ids `<seq>-0`
 *   P tm:<topic>             hash: bytes, lastId, lastAt, trimmed (highest id retention dropped)
 *   P topics                 set: every topic that ever had an event
 *   P eid                    hash: event id -> topic (for get(id))
 *   P ch:<topic>             pub/sub channel: live events of a topic
 *   P d:<id> / P da:<id>     hash: a delivery / its attempts (n -> JSON)
 *   P dseq, P dall           INCR and zset (score seq): deliveries in creation order
 *   P ds:<status>            zset (score seq): deliveries by status
 *   P due                    zset (lex `<time>:<seq>:<id>`): pending deliveries by due time
 *   P dh:<host>              zset (same members): one destination host's pending deliveries
 *   P dhosts, P dhcur        zset (lex): hosts with pending deliveries / where the last host-by-host claim stopped
 *   P dhindexed              set once every pending delivery is in its host's set (data from before per-host claims)
 *   P lease                  zset (score lease expiry): deliveries in flight
 *   P ik:<key>               string with TTL: delivery idempotency key -> `<id>[ <request fingerprint>]`
 *   P tok:<uuid>             short-lived result of a script run (see token())
 *
 * The other adapters keep their own families under the same prefix, each
 * described at the top of its file: pk: (publish-keys), ws: (subscription-store),
 * qc: (queue-clients), rl: (rate-limit), tc: (channel-store), tn: (tunnel-cluster).
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  get seq(): string {
    return `${this.prefix}seq`;
  }
  stream(topic: string): string {
    return `${this.prefix}t:${topic}`;
  }
  topicMeta(topic: string): string {
    return `${this.prefix}tm:${topic}`;
  }
  get topics(): string {
    return `${this.prefix}topics`;
  }
  get eventIndex(): string {
    return `${this.prefix}eid`;
  }
  channel(topic: string): string {
    return `${this.prefix}ch:${topic}`;
  }
  /** The topic a `channel(topic)` name carries. */
  topicOfChannel(channel: string): string {
    return channel.slice(this.prefix.length + 3);
  }
  /**
   * A PSUBSCRIBE glob receiving at least every topic the MQTT-style pattern
   * matches. `+` and `#` both become `*` (which also crosses `/`), so the glob
   * may over-match; the bus filters with matchTopic, so that only costs a
   * little traffic, never a wrong delivery.
   */
  channelGlob(pattern: string): string {
    const prefix = escapeGlob(`${this.prefix}ch:`);
    if (pattern === '*') return `${prefix}*`;
    const parts = pattern.split('/');
    const globbed = parts.map((part, i) => {
      if (part === '+') return '*';
      if (part === '#') return i === 0 ? '*' : '';
      return escapeGlob(part);
    });
    // `a/#` also matches `a` itself, so the slash before `#` is optional: `a*`.
    let glob = globbed.join('/');
    if (parts[parts.length - 1] === '#' && parts.length > 1) glob = `${glob.slice(0, -1)}*`;
    return prefix + glob;
  }

  /** Marks a script run as done, so that ioredis re-sending it after a reconnect has no second effect. */
  token(token: string): string {
    return `${this.prefix}tok:${token}`;
  }

  delivery(id: string): string {
    return `${this.prefix}d:${id}`;
  }
  attempts(id: string): string {
    return `${this.prefix}da:${id}`;
  }
  get deliverySeq(): string {
    return `${this.prefix}dseq`;
  }
  get deliveriesAll(): string {
    return `${this.prefix}dall`;
  }
  byStatus(status: string): string {
    return `${this.prefix}ds:${status}`;
  }
  get due(): string {
    return `${this.prefix}due`;
  }
  get lease(): string {
    return `${this.prefix}lease`;
  }
  idempotency(key: string): string {
    return `${this.prefix}ik:${key}`;
  }
}

/** Escapes Redis glob metacharacters so a literal topic segment matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]^]/g, (c) => `\\${c}`);
}
