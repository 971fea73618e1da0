import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { ConfigAuthorizer } from '../../auth/authorizer.ts';
import { setUserPasswordInFile, UserNotInFileError } from '../../auth/config-file.ts';
import { hashPassword } from '../../auth/password.ts';
import { ConfigError } from '../../config/load.ts';
import { readRawBody } from '../../http/body.ts';
import type { Runtime } from '../../runtime.ts';
import { QueueError } from './errors.ts';

const MIN_PASSWORD = 6;
const MAX_PASSWORD = 1024;

/**
 * The original queue's account endpoints: a user changes their own password
 * (written to the config file as an scrypt hash, then reloaded), and users
 * with `canReload` (or admins) re-read the config file.
 */
export function registerAccountRoutes(rt: Runtime, router: Router, errors: Middleware, ok: (ctx: Context) => void): void {
  const log = rt.log.child({ module: 'queue' });

  router.post('/setPassword', errors, async (ctx) => {
    const auth = rt.auth;
    if (!(auth instanceof ConfigAuthorizer) || !auth.enabled) {
      throw new QueueError(409, 'no users are configured on this server, so there is no password to set');
    }
    const identity = await auth.authenticate(ctx);
    const raw = await readRawBody(ctx, 8 * 1024);
    let password: unknown;
    try {
      password = (JSON.parse(raw.toString('utf8')) as { password?: unknown }).password;
    } catch {
      throw new QueueError(400, 'body must be JSON: {"password": "<new password>"}');
    }
    if (typeof password !== 'string') throw new QueueError(400, 'body must be JSON: {"password": "<new password>"}');
    if (password.length < MIN_PASSWORD) throw new QueueError(400, `Password must be at least ${MIN_PASSWORD} characters long`);
    if (password.length > MAX_PASSWORD) throw new QueueError(400, `Password must be at most ${MAX_PASSWORD} characters long`);
    const reload = rt.reload;
    if (!reload?.path) throw new QueueError(409, 'the server was started without a config file, so a new password cannot be saved');
    const hash = await hashPassword(password);
    try {
      setUserPasswordInFile(reload.path, identity.name, hash);
    } catch (err) {
      if (err instanceof UserNotInFileError) throw new QueueError(409, err.message);
      throw err;
    }
    log.info({ user: identity.name }, 'password changed; reloading the config file');
    try {
      await reload.reload(`setPassword by ${identity.name}`);
    } catch (err) {
      if (err instanceof ConfigError) {
        throw new QueueError(422, `the new password was written, but the config file was rejected so the old one is still in force: ${err.message}`);
      }
      throw err;
    }
    ok(ctx);
  });

  const reloadHandler = async (ctx: Context) => {
    const auth = rt.auth;
    let who = '';
    if (auth instanceof ConfigAuthorizer) {
      const identity = await auth.authenticate(ctx);
      if (!identity.canReload) throw new QueueError(403, 'User does not have reload permissions');
      who = identity.name;
    } else {
      await auth.authorize(ctx, 'admin');
    }
    if (!rt.reload?.path) throw new QueueError(409, 'the server was started without a config file (--config), so there is nothing to reload');
    try {
      await rt.reload.reload(`${ctx.method} /reload${who ? ` by ${who}` : ''}`);
    } catch (err) {
      if (err instanceof ConfigError) throw new QueueError(422, `${err.message}\nThe running configuration stays in force.`);
      throw err;
    }
    ok(ctx);
  };
  router.post('/reload', errors, reloadHandler);
  // The original served reload on GET; kept for its clients.
  router.get('/reload', errors, reloadHandler);
}
