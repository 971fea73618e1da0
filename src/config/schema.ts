import { z } from 'zod';
import { duration } from './duration.ts';
import { authSection, rateLimitSection } from '../auth/config-schema.ts';
import { queuesSection } from '../edges/queue/config-schema.ts';

const cidr = z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'expected a CIDR such as 10.0.0.0/8 or ::1/128');

const retention = z
  .object({
    maxCount: z.number().int().positive().default(1000),
    maxBytes: z.number().int().positive().default(16 * 1024 * 1024),
    maxAge: duration.prefault('7d'),
  })
  .strict();

/**
 * The whole configuration. Every key has a default, so an empty file (or none)
 * is a working single-node setup; `.strict()` makes a misspelt key an error
 * that names it instead of being silently ignored.
 */
export const configSchema = z
  .object({
    server: z
      .object({
        port: z.number().int().min(0).max(65535).default(8080),
        address: z.string().default('127.0.0.1'),
        /** Absolute URL clients use to reach this server (status links, WebSub rel=hub). */
        publicUrl: z.string().url().optional(),
        maxBodyBytes: z.number().int().positive().max(1024 * 1024 * 1024).default(1024 * 1024),
        shutdownTimeout: duration.prefault('10s'),
        /** Honour X-Forwarded-For / X-Forwarded-Proto from these proxies only. */
        trustedProxies: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /** `sqlite:<path>` (embedded default) or `redis://…` for scale-out. */
        driver: z.enum(['sqlite', 'redis']).default('sqlite'),
        path: z.string().default('./hookah.db'),
        /** normal: survives a process crash; full: also survives power loss. */
        durability: z.enum(['normal', 'full']).default('normal'),
        redisUrl: z.string().regex(/^rediss?:\/\//, 'expected redis://[user:password@]host[:port][/db] or rediss://…').optional(),
        /** Prefix of every Redis key and channel, so several Hookah clusters can share one Redis. */
        redisPrefix: z.string().min(1).max(64).regex(/^[^\s*?[\]]+$/, 'no whitespace or glob characters').default('hookah:'),
        /** How long a starting node waits for Redis to answer before giving up. */
        redisConnectTimeout: duration.prefault('30s'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    dispatcher: z
      .object({
        concurrency: z.number().int().positive().max(10_000).default(64),
        perHostConcurrency: z.number().int().positive().max(1000).default(8),
        timeout: duration.prefault('15s'),
        maxTimeout: duration.prefault('60s'),
        /** Delay before each attempt; its length is the default attempt count. */
        retrySchedule: z.array(duration).min(1).max(100).prefault(['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h']),
        maxAttempts: z.number().int().positive().max(100).default(20),
        /** Fraction of each delay added or removed at random, so retries do not stampede. */
        jitter: z.number().min(0).max(1).default(0.2),
        /** In-process retries of connection errors inside one attempt. */
        quickRetries: z.number().int().min(0).max(5).default(2),
        maxRetryAfter: duration.prefault('12h'),
        responseExcerptBytes: z.number().int().min(0).max(1024 * 1024).default(4096),
        /** Standard Webhooks signing secret (`whsec_<base64>`). */
        signingSecret: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'expected whsec_<base64>').optional(),
        /** Destinations in these ranges are allowed despite the SSRF guard. */
        allowNetworks: z.array(cidr).default([]),
        idempotencyTtl: duration.prefault('24h'),
        /** How long a claimed delivery is owned before another worker may take it. */
        lease: duration.prefault('2m'),
        pollInterval: duration.prefault('500ms'),
        maxPending: z.number().int().positive().default(1_000_000),
        /** Delivered and failed messages (with their attempts) are deleted this long after acceptance; 0 keeps them forever. */
        retention: duration.prefault('7d'),
        /** How often finished messages past `retention` and expired idempotency keys are swept. */
        sweepInterval: duration.prefault('60s').refine((ms) => ms >= 10, 'must be at least 10ms'),
      })
      .strict()
      .prefault({}),
    backlog: retention
      .extend({
        topics: z.array(retention.partial().extend({ pattern: z.string() }).strict()).default([]),
        sweepInterval: duration.prefault('60s'),
      })
      .strict()
      .prefault({}),
    streams: z
      .object({
        keepAlive: duration.prefault('30s'),
        maxBufferBytes: z.number().int().positive().default(1024 * 1024),
        maxConnections: z.number().int().positive().default(20_000),
        pollTimeout: duration.prefault('30s'),
        maxPollTimeout: duration.prefault('120s'),
        corsOrigins: z.array(z.string()).default(['*']),
      })
      .strict()
      .prefault({}),
    hub: z
      .object({
        defaultLease: duration.prefault('10d'),
        minLease: duration.prefault('5m'),
        maxLease: duration.prefault('30d'),
        signatureAlgorithm: z.enum(['sha1', 'sha256', 'sha384', 'sha512']).default('sha256'),
        verifyTimeout: duration.prefault('10s'),
        /** When non-empty, topics/callbacks must match one of these regular expressions. */
        allowTopics: z.array(z.string()).default([]),
        allowCallbacks: z.array(z.string()).default([]),
        fetchTimeout: duration.prefault('15s'),
        maxFetchBytes: z.number().int().positive().default(10 * 1024 * 1024),
        /** How often subscriptions past their lease are deleted (they stop receiving at expiry regardless). */
        sweepInterval: duration.prefault('60s'),
        /** Verifications and topic fetches waiting to run; beyond this new requests get 503. */
        maxPending: z.number().int().positive().max(1_000_000).default(10_000),
        /** Verifications and topic fetches running at once. */
        concurrency: z.number().int().positive().max(1000).default(16),
      })
      .strict()
      .prefault({}),
    tunnel: z
      .object({
        /** How long a webhook sender waits for the tunnel client's answer (then 504); also the idle bound while a response streams. */
        requestTimeout: duration.prefault('30s'),
        /** Largest request or response body carried through a tunnel (413 / 502 beyond). */
        maxBodyBytes: z.number().int().positive().max(256 * 1024 * 1024).default(10 * 1024 * 1024),
        /** With no client connected: `queue` stores the request and answers 202, `reject` answers 503. */
        offline: z.enum(['queue', 'reject']).default('queue'),
        queue: z
          .object({
            maxCount: z.number().int().positive().max(1_000_000).default(1000),
            maxBytes: z.number().int().positive().default(64 * 1024 * 1024),
            /** Across all channels, so many channels cannot fill the disk together. */
            maxTotalBytes: z.number().int().positive().default(1024 * 1024 * 1024),
            /** Pause before replaying again when the client could not reach its target. */
            retryInterval: duration.prefault('5s'),
          })
          .strict()
          .prefault({}),
        /** Several clients on one channel: `balance` round-robins requests, `broadcast` sends each to all (first answer wins). */
        multiClient: z.enum(['balance', 'broadcast']).default('balance'),
        /** A channel (and a gateway session) unused this long is deleted with its queue. */
        channelTtl: duration.prefault('30d'),
        maxChannels: z.number().int().positive().max(10_000_000).default(10_000),
        maxClientsPerChannel: z.number().int().positive().max(1000).default(8),
        /** Requests waiting for an answer on one channel; beyond this senders get 503. */
        maxInFlight: z.number().int().positive().max(100_000).default(256),
        /** WebSocket ping interval; a peer that misses a whole interval is dropped. */
        keepAlive: duration.prefault('30s'),
        gateway: z
          .object({
            maxConnections: z.number().int().positive().max(1_000_000).default(10_000),
            /** Topic patterns one gateway connection may subscribe to. */
            maxSubscriptions: z.number().int().positive().max(10_000).default(64),
            /** Unsent bytes queued to one connection before it is dropped as too slow. */
            maxBufferBytes: z.number().int().positive().default(4 * 1024 * 1024),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Users, tokens, permissions and inbound verification (see docs/security.md). */
    auth: authSection,
    /** Token buckets on ingest (publish), per source IP and per credential. */
    rateLimit: rateLimitSection,
    /** Webhook queues (POST /q/:name, see docs/queue.md); a queue is the topic q/<name>. */
    queues: queuesSection,
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
