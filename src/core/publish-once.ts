import type { TopicBus } from './bus.ts';
import type { NewEvent } from './event.ts';
import { IdempotencyConflictError } from './idempotency.ts';
import type { PublishKeyStore } from './ports.ts';

/** The idempotency key a publish is made under, with the fingerprint of its request. */
export interface PublishKey {
  key: string;
  fingerprint: string;
  ttlMs: number;
}

/**
 * Publishes `event`, at most once per key within the key's TTL: a repeat
 * answers the first event's id (none while that publish still runs), and a
 * key held for another request throws IdempotencyConflictError. The key is
 * reserved while the publish runs and given back if it fails, so a retry can
 * publish.
 */
export async function publishOnce(
  bus: TopicBus,
  keys: PublishKeyStore,
  event: NewEvent,
  key: PublishKey | undefined,
): Promise<{ eventId: string | undefined; duplicate: boolean }> {
  if (key === undefined) return { eventId: (await bus.publish(event)).id, duplicate: false };
  const claim = await keys.claim(key.key, key.ttlMs, key.fingerprint);
  if (claim.duplicate) {
    if (claim.conflict) throw new IdempotencyConflictError();
    return { eventId: claim.eventId ?? undefined, duplicate: true };
  }
  let eventId: string;
  try {
    eventId = (await bus.publish(event)).id;
  } catch (err) {
    await keys.release(key.key);
    throw err;
  }
  await keys.complete(key.key, eventId);
  return { eventId, duplicate: false };
}

/** Throws IdempotencyConflictError when `key` was claimed for a publish of another request. */
export async function assertPublishKeyFits(keys: PublishKeyStore, key: string, fingerprint: string): Promise<void> {
  const theirs = await keys.fingerprint(key);
  if (theirs !== undefined && theirs !== fingerprint) throw new IdempotencyConflictError();
}
