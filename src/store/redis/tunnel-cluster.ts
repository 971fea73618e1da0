import { randomUUID } from 'node:crypto';
import type { ChannelKind, NodePresence, PresenceEntry, TunnelCluster } from '../../edges/tunnel/ports.ts';
import type { Logger } from '../../log.ts';
import { closeRedis, guard, LuaScript, type RedisClient } from './connection.ts';

/**
 * The tunnel's and gateway's cluster registry in Redis: which node holds
 * which channel's WebSockets, a pub/sub channel per node for requests and
 * answers between nodes, and per-channel replay claims.
 *
 * Layout (N = `<prefix>tn:`):
 *   N alive:<node>   string with TTL: the node is alive (refreshed every heartbeat)
 *   N nodes          set: nodes that registered something (dead ones are pruned by readers)
 *   N h:<channel>    hash: node -> how many holders of the channel it has
 *   N e:<node>       hash: `<channel> <id>` -> the holder as JSON (TTL as alive: it vanishes with the node)
 *   N chs:<node>     set: channels the node registered, so a report can drop the stale ones
 *   N m:<node>       pub/sub channel: messages to the node
 *   N b:<uuid>       string with TTL: the payload of a message too large to publish inline
 *   N r:<channel>    string with TTL: which node replays the channel's queue (a random token)
 *
 * A node that dies stops refreshing `alive`; readers then ignore and prune
 * its entries. Its subscriber connection closing makes `PUBSUB NUMSUB` of
 * its message channel 0 at once, which is how senders notice a crash fast.
 */

export const HEARTBEAT_MS = 1000;
/** A node missing this long is presumed dead. */
export const ALIVE_TTL_MS = 5000;
/** Every this many heartbeats the node rewrites all its entries (self-healing; refreshes in-flight counts). */
const REPORT_EVERY = 3;
/** Larger payloads are stored in a key and only referenced in the notification. */
const INLINE_LIMIT = 512 * 1024;
const BLOB_TTL_MS = 120_000;
/** Passed as `max` when there is no limit. */
const UNLIMITED = 1_000_000_000;

const LIB = `
local N = ARGV[1]
local me = ARGV[2]
local function alive(node)
  return node == me or redis.call('EXISTS', N .. 'alive:' .. node) == 1
end
local function bury(node)
  for _, ch in ipairs(redis.call('SMEMBERS', N .. 'chs:' .. node)) do redis.call('HDEL', N .. 'h:' .. ch, node) end
  redis.call('DEL', N .. 'chs:' .. node, N .. 'e:' .. node)
  redis.call('SREM', N .. 'nodes', node)
end
`;

/** ARGV: N, me, channel, field, json, max, ttl. */
const ATTACH = new LuaScript(`${LIB}
local e = N .. 'e:' .. me
-- Already registered (by a report sent meanwhile, or a re-sent script): it must not count against itself.
if redis.call('HEXISTS', e, ARGV[4]) == 1 then return 1 end
local h = N .. 'h:' .. ARGV[3]
local flat = redis.call('HGETALL', h)
local total = 0
for i = 1, #flat, 2 do
  if alive(flat[i]) then total = total + tonumber(flat[i + 1]) else redis.call('HDEL', h, flat[i]) end
end
if total >= tonumber(ARGV[6]) then return 0 end
redis.call('HSET', e, ARGV[4], ARGV[5])
redis.call('HINCRBY', h, me, 1)
redis.call('PEXPIRE', e, ARGV[7])
redis.call('SADD', N .. 'chs:' .. me, ARGV[3])
redis.call('SADD', N .. 'nodes', me)
return 1
`);

/** ARGV: N, me, channel, field. */
const DETACH = new LuaScript(`${LIB}
if redis.call('HDEL', N .. 'e:' .. me, ARGV[4]) == 0 then return 0 end
local h = N .. 'h:' .. ARGV[3]
if redis.call('HINCRBY', h, me, -1) <= 0 then
  redis.call('HDEL', h, me)
  redis.call('SREM', N .. 'chs:' .. me, ARGV[3])
end
return 1
`);

/** ARGV: N, me, channel. Returns node, count pairs of the other live nodes. */
const LOCATE = new LuaScript(`${LIB}
local h = N .. 'h:' .. ARGV[3]
local flat = redis.call('HGETALL', h)
local out = {}
for i = 1, #flat, 2 do
  if flat[i] ~= me then
    if alive(flat[i]) then
      out[#out + 1] = flat[i]
      out[#out + 1] = flat[i + 1]
    else
      redis.call('HDEL', h, flat[i])
    end
  end
end
return out
`);

/** ARGV: N, me. Returns node, json pairs of every live node's entries; buries the dead. */
const ENTRIES = new LuaScript(`${LIB}
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', N .. 'nodes')) do
  if alive(node) then
    local flat = redis.call('HGETALL', N .. 'e:' .. node)
    for i = 2, #flat, 2 do
      out[#out + 1] = node
      out[#out + 1] = flat[i]
    end
  else
    bury(node)
  end
end
return out
`);

/** ARGV: N, me, ttl, then channel, field, json triples: everything this node holds. */
const REPORT = new LuaScript(`${LIB}
local e = N .. 'e:' .. me
local chs = N .. 'chs:' .. me
local counts = {}
for i = 4, #ARGV, 3 do counts[ARGV[i]] = (counts[ARGV[i]] or 0) + 1 end
for _, ch in ipairs(redis.call('SMEMBERS', chs)) do
  if not counts[ch] then redis.call('HDEL', N .. 'h:' .. ch, me) end
end
redis.call('DEL', chs, e)
for ch, n in pairs(counts) do
  redis.call('HSET', N .. 'h:' .. ch, me, n)
  redis.call('SADD', chs, ch)
end
for i = 4, #ARGV, 3 do redis.call('HSET', e, ARGV[i + 1], ARGV[i + 2]) end
redis.call('PEXPIRE', e, ARGV[3])
redis.call('SET', N .. 'alive:' .. me, '1', 'PX', ARGV[3])
redis.call('SADD', N .. 'nodes', me)
return 1
`);

/** ARGV: N, me. */
const LEAVE = new LuaScript(`${LIB}
bury(me)
redis.call('DEL', N .. 'alive:' .. me)
return 1
`);

/** KEYS: claim. ARGV: token, ttl. */
const RENEW = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/** KEYS: claim. ARGV: token. */
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`);

interface EntryJson {
  k: ChannelKind;
  ch: string;
  id: string;
  at: number;
  ra: string;
  ua: string | null;
  f: number;
}

const fieldOf = (channel: string, id: string) => `${channel} ${id}`;

export interface RedisTunnelClusterOptions {
  /** Command connection (shared with the other adapters). */
  redis: RedisClient;
  /** A connection of its own for SUBSCRIBE; closed with the cluster. */
  subscriber: RedisClient;
  prefix: string;
  node: string;
  log: Logger;
}

export class RedisTunnelCluster implements TunnelCluster {
  readonly node: string;
  readonly #redis: RedisClient;
  readonly #sub: RedisClient;
  readonly #n: string;
  readonly #log: Logger;
  readonly #inbox: string;
  /** What this node registered, so that each report can rewrite it whole. */
  readonly #mine = new Map<string, PresenceEntry>();
  readonly #inFlight = new Map<ChannelKind, (channel: string, id: string) => number>();
  readonly #handlers = new Map<ChannelKind, (from: string, payload: string) => void>();
  readonly #resubscribed: (() => void)[] = [];
  /** Set once start() has subscribed: a later subscription is a re-subscription. */
  #started = false;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #beats = 0;
  #failing = false;
  #closed = false;

  constructor(options: RedisTunnelClusterOptions) {
    this.node = options.node;
    this.#redis = options.redis;
    this.#sub = options.subscriber;
    this.#n = `${options.prefix}tn:`;
    this.#log = options.log;
    this.#inbox = `${this.#n}m:${this.node}`;
    this.#sub.on('message', (_channel: string, message: string) => this.#receive(message));
    // The subscriber connection is made without automatic re-subscription (see createRedis).
    this.#sub.on('ready', () => {
      if (this.#closed) return;
      this.#sub.subscribe(this.#inbox).then(
        () => {
          if (this.#started) for (const handler of this.#resubscribed) handler();
        },
        (err) => this.#log.warn({ err }, 'cannot re-subscribe to this node\'s tunnel messages'),
      );
    });
  }

  /** Subscribes to this node's messages and announces it; then heartbeats until close. */
  async start(): Promise<void> {
    if (this.#sub.status === 'wait') await this.#sub.connect();
    await this.#sub.subscribe(this.#inbox);
    this.#started = true;
    await this.#report();
    this.#timer = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await LEAVE.run(this.#redis, [], [this.#n, this.node]);
    } catch (err) {
      this.#log.warn({ err }, 'cannot remove this node from the tunnel registry; its entries expire by themselves');
    }
    await closeRedis(this.#sub);
  }

  async attach(entry: PresenceEntry, max: number): Promise<boolean> {
    const field = fieldOf(entry.channel, entry.id);
    // Recorded before the script runs, so that a report sent meanwhile cannot drop it.
    this.#mine.set(field, entry);
    let ok: boolean;
    try {
      ok = Number(await ATTACH.run(this.#redis, [], [this.#n, this.node, entry.channel, field, this.#json(entry), Number.isFinite(max) ? max : UNLIMITED, ALIVE_TTL_MS])) === 1;
    } catch (err) {
      // Without a limit to enforce, the next report registers it; with one, the caller refuses the client.
      if (Number.isFinite(max)) this.#mine.delete(field);
      throw err;
    }
    if (!ok) {
      this.#mine.delete(field);
      // A report sent while the script was on its way may have registered it anyway.
      await DETACH.run(this.#redis, [], [this.#n, this.node, entry.channel, field]).catch(() => undefined);
    }
    return ok;
  }

  async detach(_kind: ChannelKind, channel: string, id: string): Promise<void> {
    const field = fieldOf(channel, id);
    if (!this.#mine.delete(field)) return;
    await DETACH.run(this.#redis, [], [this.#n, this.node, channel, field]);
  }

  async locate(channel: string): Promise<Map<string, number>> {
    const flat = (await LOCATE.run(this.#redis, [], [this.#n, this.node, channel])) as string[];
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const n = Number(flat[i + 1]);
      if (n > 0) out.set(flat[i]!, n);
    }
    return out;
  }

  async entries(kind: ChannelKind): Promise<NodePresence[]> {
    const flat = (await ENTRIES.run(this.#redis, [], [this.#n, this.node])) as string[];
    const out: NodePresence[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      let e: EntryJson;
      try {
        e = JSON.parse(flat[i + 1]!) as EntryJson;
      } catch {
        continue;
      }
      if (e.k !== kind) continue;
      out.push({ kind: e.k, channel: e.ch, id: e.id, connectedAt: e.at, remoteAddress: e.ra, userAgent: e.ua, node: flat[i]!, inFlight: e.f });
    }
    return out;
  }

  async gone(nodes: string[]): Promise<string[]> {
    if (nodes.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const node of nodes) {
      pipe.exists(`${this.#n}alive:${node}`);
      pipe.pubsub('NUMSUB', `${this.#n}m:${node}`);
    }
    const replies = (await guard(pipe.exec())) ?? [];
    return nodes.filter((_, i) => {
      const [e1, exists] = replies[2 * i] ?? [null, 0];
      const [e2, numsub] = replies[2 * i + 1] ?? [null, []];
      if (e1 || e2) return false; // unknown: not presumed dead
      return Number(exists) === 0 || Number((numsub as unknown[])[1] ?? 0) === 0;
    });
  }

  reportInFlight(kind: ChannelKind, inFlight: (channel: string, id: string) => number): void {
    this.#inFlight.set(kind, inFlight);
  }

  async send(node: string, kind: ChannelKind, payload: string): Promise<boolean> {
    const channel = `${this.#n}m:${node}`;
    const head = `${kind}\n${this.node}\n`;
    let published: Promise<number>;
    if (Buffer.byteLength(payload) <= INLINE_LIMIT) published = this.#redis.publish(channel, `${head}i\n${payload}`);
    else {
      const key = `${this.#n}b:${randomUUID()}`;
      // Stored first (a refused write, e.g. at maxmemory, fails the send rather than the receiver).
      await guard(this.#redis.set(key, payload, 'PX', BLOB_TTL_MS));
      published = this.#redis.publish(channel, `${head}r\n${key}`);
    }
    return (await guard(published)) > 0;
  }

  onMessage(kind: ChannelKind, handler: (from: string, payload: string) => void): void {
    this.#handlers.set(kind, handler);
  }

  onResubscribed(handler: () => void): void {
    this.#resubscribed.push(handler);
  }

  async claimReplay(channel: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const ok = await guard(this.#redis.set(`${this.#n}r:${channel}`, token, 'PX', ttlMs, 'NX'));
    return ok === 'OK' ? token : undefined;
  }

  async renewReplay(channel: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await RENEW.run(this.#redis, [`${this.#n}r:${channel}`], [token, ttlMs])) === 1;
  }

  async releaseReplay(channel: string, token: string): Promise<void> {
    await RELEASE.run(this.#redis, [`${this.#n}r:${channel}`], [token]);
  }

  #json(entry: PresenceEntry): string {
    const inFlight = this.#inFlight.get(entry.kind)?.(entry.channel, entry.id) ?? 0;
    const e: EntryJson = { k: entry.kind, ch: entry.channel, id: entry.id, at: entry.connectedAt, ra: entry.remoteAddress, ua: entry.userAgent, f: inFlight };
    return JSON.stringify(e);
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    try {
      // After failed beats other nodes may have dropped this node's entries: rewrite them at once.
      if (++this.#beats % REPORT_EVERY === 0 || this.#failing) await this.#report();
      else {
        const replies = await guard(
          this.#redis.pipeline().set(`${this.#n}alive:${this.node}`, '1', 'PX', ALIVE_TTL_MS).pexpire(`${this.#n}e:${this.node}`, ALIVE_TTL_MS).exec(),
        );
        for (const [err] of replies ?? []) if (err) throw err;
      }
      if (this.#failing) this.#log.info('tunnel registry heartbeat restored');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing && !this.#closed) this.#log.warn({ err }, 'tunnel registry heartbeat failed; other nodes will presume this one dead if it lasts');
      this.#failing = true;
    }
  }

  #report(): Promise<unknown> {
    const args: (string | number)[] = [this.#n, this.node, ALIVE_TTL_MS];
    for (const [field, entry] of this.#mine) args.push(entry.channel, field, this.#json(entry));
    return REPORT.run(this.#redis, [], args);
  }

  /** Messages are handled in arrival order, a referenced payload being fetched before any later message. */
  #receive(message: string): void {
    const a = message.indexOf('\n');
    const b = message.indexOf('\n', a + 1);
    const c = message.indexOf('\n', b + 1);
    if (a < 0 || b < 0 || c < 0) return;
    const kind = message.slice(0, a) as ChannelKind;
    const from = message.slice(a + 1, b);
    const inline = message.slice(b + 1, c) === 'i';
    const rest = message.slice(c + 1);
    this.#queue = this.#queue
      .then(async () => {
        const payload = inline ? rest : await guard(this.#redis.getdel(rest));
        if (payload === null) {
          this.#log.warn({ from, kind }, 'a tunnel message from another node expired before it could be read');
          return;
        }
        this.#handlers.get(kind)?.(from, payload);
      })
      .catch((err) => this.#log.warn({ err, from, kind }, 'cannot handle a tunnel message from another node'));
  }
}
