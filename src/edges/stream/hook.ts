import type { Context } from 'koa';
import { validateTopic } from '../../core/topic-pattern.ts';
import { readRawBody, keptHeaders } from '../../http/body.ts';
import { badRequest } from '../../http/errors.ts';
import type { StreamDeps } from './deps.ts';
import { decodePath } from './params.ts';

export const HOOK_PREFIX = '/hook/';

/**
 * Sockethook ingress: a request with any method to `/hook/<path>` is published
 * to topic `<path>`, body byte-exact, and every `/socket/<path>` WebSocket gets
 * it in the sockethook format.
 */
export async function serveHook(ctx: Context, deps: StreamDeps): Promise<void> {
  const { rt } = deps;
  const topic = decodePath(ctx.path.slice(HOOK_PREFIX.length));
  const problem = validateTopic(topic);
  if (problem) throw badRequest(`invalid topic in /hook/<topic>: ${problem}`);
  await rt.auth.authorize(ctx, 'publish', topic);
  const body = await readRawBody(ctx, rt.config.server.maxBodyBytes);
  await rt.auth.verifyInbound?.(ctx, topic, body);
  const event = await rt.bus.publish({
    topic,
    headers: keptHeaders(ctx.req.headers),
    contentType: ctx.get('content-type'),
    body,
    source: 'hook',
  });
  ctx.status = 200;
  ctx.body = { id: event.id };
}
