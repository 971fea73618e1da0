import { z } from 'zod';
import { ipRange, verifierRef } from '../../auth/config-schema.ts';
import { duration } from '../../config/duration.ts';

/** Queue names are one URL path segment: they appear in /q/:name and /listen/:client/:queue. */
export const QUEUE_NAME_RE = /^[A-Za-z0-9._~-]{1,128}$/;

const limits = {
  /** Messages kept; the oldest roll off beyond this. */
  maxMessageCount: z.number().int().positive().max(1_000_000),
  /** Largest single message in bytes; a bigger one is dropped and readers are told to refresh. */
  maxMessageSize: z.number().int().positive().max(1024 * 1024 * 1024),
  /** Total bytes kept; the oldest roll off beyond this. */
  maxQueueSize: z.number().int().positive(),
  /** Messages older than this roll off (default: backlog.maxAge). */
  maxAge: duration,
};

export const queueSchema = z
  .object({
    name: z.string().regex(QUEUE_NAME_RE, 'queue names are 1-128 characters of A-Z a-z 0-9 . _ ~ -'),
    verifier: verifierRef.optional(),
    allowIps: z.array(ipRange).max(10_000).optional(),
    /** POST /q/:name needs no user credentials (as in the original webhook queue). */
    public: z.boolean().default(true),
    maxMessageCount: limits.maxMessageCount.optional(),
    maxMessageSize: limits.maxMessageSize.optional(),
    maxQueueSize: limits.maxQueueSize.optional(),
    maxAge: limits.maxAge.optional(),
  })
  .strict();

export const queuesSection = z
  .object({
    maxMessageCount: limits.maxMessageCount.default(100),
    maxMessageSize: limits.maxMessageSize.default(20_000),
    maxQueueSize: limits.maxQueueSize.default(1_000_000),
    maxAge: limits.maxAge.optional(),
    /** Clients (listen registrations) one user may hold. */
    maxClientsPerUser: z.number().int().positive().max(100_000).default(100),
    list: z
      .array(queueSchema)
      .max(10_000)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        for (const [i, q] of list.entries()) {
          if (seen.has(q.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `queue ${q.name} is defined twice` });
          seen.add(q.name);
        }
      }),
  })
  .strict()
  .prefault({});

export type QueuesConfig = z.output<typeof queuesSection>;
export type QueueConfig = z.output<typeof queueSchema>;
