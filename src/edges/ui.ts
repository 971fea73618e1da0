import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.ts';
import { limitParam } from '../http/query.ts';
import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';
import { DEFAULT_OVERVIEW_TOPICS, MAX_OVERVIEW_TOPICS, Overview } from './overview.ts';

/**
 * The operator dashboard: the bundle scripts/build-ui.mjs writes to
 * dist/ui/ (the same path from src/ and from the built dist/), served at
 * /ui/ behind the `admin` permission, plus GET /admin/overview, the summary
 * it polls. Everything else the dashboard shows comes from the public admin
 * API (/messages, /hub/subscriptions, /topics, /sse).
 */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

/** Nothing but this server: the dashboard must work offline, and an injected script could not phone home. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Bundle files are small; more than this means something else ended up in the directory. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  /** Content-hashed names never change content, so browsers may keep them. */
  immutable: boolean;
}

function loadBundle(dir: string): Map<string, Asset> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const type = TYPES[extname(name)];
    if (!type || !statSync(path).isFile() || statSync(path).size > MAX_FILE_BYTES) continue;
    const body = readFileSync(path);
    const compressible = !type.startsWith('image/png');
    assets.set(name, {
      body,
      gzip: compressible && body.length > 1024 ? gzipSync(body) : undefined,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      immutable: /-[A-Z0-9]{8,}\.\w+$/i.test(name),
    });
  }
  return assets;
}

export function createUiEdge(rt: Runtime, options: { dir?: string } = {}): Edge {
  const dir = options.dir ?? UI_DIR;
  const overview = new Overview(rt);
  // Read on first use (and retried until found), so a bundle built after start-up is picked up.
  let bundle: Map<string, Asset> | undefined;
  const assets = () => (bundle ??= loadBundle(dir));

  const serve = (ctx: Context, name: string) => {
    const files = assets();
    if (!files) {
      throw new HttpError(503, `the dashboard is not built: run "npm run build:ui" (looked for ${join(dir, 'index.html')})`);
    }
    const asset = files.get(name);
    if (!asset) throw new HttpError(404, `no dashboard file ${name}`);
    ctx.set('Content-Type', asset.type);
    ctx.set('Cache-Control', asset.immutable ? 'private, max-age=31536000, immutable' : 'no-cache');
    ctx.set('ETag', asset.etag);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (asset.type.startsWith('text/html')) {
      ctx.set('Content-Security-Policy', CSP);
      ctx.set('X-Frame-Options', 'DENY');
    }
    if (asset.gzip) ctx.vary('Accept-Encoding');
    if (ctx.get('if-none-match') === asset.etag) {
      ctx.status = 304;
      return;
    }
    const gzip = asset.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip';
    if (gzip) ctx.set('Content-Encoding', 'gzip');
    ctx.body = gzip ? asset.gzip : asset.body;
  };

  const router = new Router();
  // The router also matches /ui/ here (trailing slashes are optional).
  router.get('/ui', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    if (ctx.path.endsWith('/')) return serve(ctx, 'index.html');
    // Relative, so the dashboard also works under a reverse proxy's path prefix.
    ctx.status = 308;
    ctx.set('Location', `ui/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
    ctx.body = '';
  });
  router.get('/ui/:file', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const name = String(ctx.params.file);
    if (!/^[\w.-]{1,128}$/.test(name) || name.startsWith('.')) throw new HttpError(404, 'no such dashboard file');
    serve(ctx, name);
  });

  router.get('/admin/overview', async (ctx) => {
    await rt.auth.authorize(ctx, 'admin');
    const limit = limitParam(ctx.query.limit, DEFAULT_OVERVIEW_TOPICS, MAX_OVERVIEW_TOPICS);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await overview.snapshot(limit);
  });

  return { name: 'ui', router };
}
