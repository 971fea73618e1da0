import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { duration } from '../config/duration.ts';
import { validatePattern } from '../core/topic-pattern.ts';

/**
 * The `auth` and `rateLimit` config sections, and the verifier/allow-list
 * shapes the `queues` section reuses. Cross-references (a verifier named by a
 * rule, an environment variable holding a secret) are checked when the
 * policy is built, so a bad reference fails start-up and reload alike.
 */

/** An address or a CIDR range; a bare address means exactly that host. */
export const ipRange = z.string().refine((s) => {
  try {
    if (s.includes('/')) ipaddr.parseCIDR(s);
    else ipaddr.parse(s);
    return true;
  } catch {
    return false;
  }
}, 'expected an IP address or CIDR such as 203.0.113.7 or 10.0.0.0/8');

const pattern = z.string().superRefine((p, ctx) => {
  const problem = p.includes('://') ? (/\s/.test(p) ? 'URL prefix must not contain whitespace' : undefined) : validatePattern(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Topic/queue patterns per action; `queues` is shorthand for subscribe+read on `q/<name>`. */
export const permissionFields = {
  publish: z.array(pattern).max(1000).default([]),
  subscribe: z.array(pattern).max(1000).default([]),
  read: z.array(pattern).max(1000).default([]),
  queues: z.array(z.string()).max(1000).default([]),
};

const secretFields = {
  /** One secret, or several during a rotation (any of them verifies). */
  secret: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(10)]).optional(),
  /** Name of an environment variable holding the secret instead. */
  secretEnv: z.string().min(1).optional(),
};
const tolerance = { tolerance: duration.prefault('5m') };

const verifierVariants = [
  z.object({
    type: z.enum(['hmac-sha1', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512']),
    header: z.string().min(1),
    encoding: z.enum(['hex', 'base64']).default('hex'),
    /** Text in front of the digest, e.g. `sha256=`. */
    prefix: z.string().default(''),
    ...secretFields,
  }).strict(),
  z.object({ type: z.literal('github'), ...secretFields }).strict(),
  z.object({ type: z.literal('stripe'), ...secretFields, ...tolerance }).strict(),
  z.object({ type: z.literal('shopify'), ...secretFields }).strict(),
  z.object({ type: z.literal('slack'), ...secretFields, ...tolerance }).strict(),
  z.object({ type: z.literal('standard-webhooks'), ...secretFields, ...tolerance }).strict(),
  /** A shared secret sent verbatim in a header (GitLab's X-Gitlab-Token and the like). */
  z.object({ type: z.literal('token'), header: z.string().min(1), ...secretFields }).strict(),
] as const;

export const verifierSchema = z.discriminatedUnion('type', verifierVariants).superRefine((v, ctx) => {
  if ((v.secret === undefined) === (v.secretEnv === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'give exactly one of secret or secretEnv' });
  }
});

export type VerifierConfig = z.output<typeof verifierSchema>;

/** A verifier inline, or the name of one in `auth.verifiers`. */
export const verifierRef = z.union([z.string().min(1), verifierSchema]);

export const inboundRuleSchema = z
  .object({
    /** Topic name or pattern; the first rule that matches a topic applies. */
    pattern,
    verifier: verifierRef.optional(),
    allowIps: z.array(ipRange).max(10_000).optional(),
    /** Anyone may publish here without credentials; the verifier / allow-list is the credential. */
    public: z.boolean().default(false),
  })
  .strict();

const userName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^:\s]+$/, 'user names cannot contain ":" or whitespace (HTTP Basic splits on the first colon)');

export const userSchema = z
  .object({
    name: userName,
    /** `scrypt$N$r$p$<salt>$<hash>` from `hookah hash-password`, or `plain;;<password>` to bootstrap. */
    password: z.string().min(1).optional(),
    /** Bearer tokens acting as this user: `sha256:<hex>` (recommended) or the token itself. */
    tokens: z.array(z.string().min(1)).max(100).default([]),
    admin: z.boolean().default(false),
    /** May trigger POST /reload without being an admin. */
    canReload: z.boolean().default(false),
    ...permissionFields,
  })
  .strict();

export const authSection = z
  .object({
    realm: z.string().regex(/^[^"\\]*$/, 'realm cannot contain quotes or backslashes').default('hookah'),
    users: z.array(userSchema).max(10_000).default([]),
    /** What a request without credentials may do once users exist (nothing by default). */
    anonymous: z.object(permissionFields).strict().prefault({}),
    verifiers: z.record(z.string(), verifierSchema).default({}),
    inbound: z.array(inboundRuleSchema).max(10_000).default([]),
    /** Accept `?access_token=` on GET and WebSocket requests (browsers cannot set headers there). */
    queryToken: z.boolean().default(true),
  })
  .strict()
  .prefault({});

const bucket = z
  .object({
    /** Sustained requests per second. */
    rate: z.number().positive().max(1_000_000),
    /** Requests allowed in a burst above the rate. */
    burst: z.number().int().positive().max(1_000_000),
  })
  .strict();

export const rateLimitSection = z
  .object({
    perIp: bucket.optional(),
    perToken: bucket.optional(),
    /** Failed logins per source IP, on every endpoint: brute force gets 429 before any password hashing. */
    authFailures: bucket.prefault({ rate: 1, burst: 20 }),
    /** Buckets kept in memory per scope; the least recently used go first. */
    maxKeys: z.number().int().positive().max(10_000_000).default(100_000),
  })
  .strict()
  .prefault({});

export type AuthConfig = z.output<typeof authSection>;
export type RateLimitConfig = z.output<typeof rateLimitSection>;
export type UserConfig = z.output<typeof userSchema>;
export type InboundRuleConfig = z.output<typeof inboundRuleSchema>;
