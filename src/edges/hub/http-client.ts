import { request, type Agent } from 'undici';
import { BlockedAddressError, createGuardedAgent } from '../../dispatcher/ssrf.ts';

export interface GetOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Read at most this much of the body; the rest is dropped and `truncated` set. */
  maxBytes: number;
}

export interface GetResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  truncated: boolean;
}

/**
 * The hub's own outbound GETs (verification of intent, denial notices, topic
 * fetches). Every one goes through the SSRF-guarded agent, is bounded in
 * time and size, and never follows a redirect: a 3xx is the answer.
 */
export class HubHttp {
  readonly #agent: Agent;
  readonly #shutdown: AbortSignal;

  constructor(allowNetworks: string[], shutdown: AbortSignal) {
    this.#agent = createGuardedAgent(allowNetworks);
    this.#shutdown = shutdown;
  }

  async get(url: string, options: GetOptions): Promise<GetResult> {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([deadline, this.#shutdown]);
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { 'user-agent': 'Hookah-WebSub-Hub', ...options.headers },
        dispatcher: this.#agent,
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const { body, truncated } = await readLimited(res.body, options.maxBytes);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers, body, truncated };
    } catch (err) {
      if (deadline.aborted) throw new Error(`no complete answer within ${options.timeoutMs} ms`);
      if (this.#shutdown.aborted) throw new Error('aborted: the hub is shutting down');
      throw new Error(describe(err as Error & { code?: string; cause?: Error & { code?: string } }));
    }
  }

  async close(): Promise<void> {
    await this.#agent.destroy().catch(() => {});
  }
}

async function readLimited(stream: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      stream.destroy();
      return { body: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), truncated: false };
}

function describe(e: Error & { code?: string; cause?: Error & { code?: string } }): string {
  if (e instanceof BlockedAddressError) return e.message;
  if (e.cause instanceof BlockedAddressError) return e.cause.message;
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : e.message;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
