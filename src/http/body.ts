import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { HttpError } from './errors.ts';

/**
 * Reads the request body as exact bytes, bounded. Every edge that stores a
 * body goes through here so that signatures over the raw body stay verifiable.
 */
export async function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new HttpError(413, `body is ${declared} bytes; the limit is ${limit}`);
  try {
    return await getRawBody(ctx.req, { limit });
  } catch (err) {
    const e = err as { type?: string; message: string };
    if (e.type === 'entity.too.large') throw new HttpError(413, `body exceeds the limit of ${limit} bytes`);
    if (e.type === 'request.aborted') throw new HttpError(400, 'request aborted by the client');
    throw new HttpError(400, `cannot read body: ${e.message}`);
  }
}

/** Headers worth keeping with a stored event: end-to-end ones only. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'authorization', 'cookie',
]);

export function keptHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
