import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let offset = pool.length;

/**
 * A message id: `msg_` + 32 hex digits, 48 bits of milliseconds then 80
 * random bits (the layout of a UUIDv7, without its version bits). Ids that
 * grow with time land at the right edge of the store's id index instead of on
 * a random page, which keeps each commit to a few pages; the random part keeps
 * them unguessable. Random bytes are drawn in bulk because one call per id
 * costs more than the rest of the id.
 */
export function newMessageId(now = Date.now()): string {
  if (offset + 10 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.toString('hex', offset, offset + 10);
  offset += 10;
  return `msg_${now.toString(16).padStart(12, '0')}${random}`;
}
