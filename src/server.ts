import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Config } from './config/schema.ts';
import { TopicBus } from './core/bus.ts';
import { createDispatcher } from './dispatcher/engine.ts';
import { createEdges } from './edges/index.ts';
import { openAuthorizer, type Authorizer } from './http/auth.ts';
import { ConfigAuthorizer, buildPolicy } from './auth/authorizer.ts';
import { createConfigReload, type ConfigSource, type ReloadResult } from './config/reload.ts';
import { errorMiddleware } from './http/errors.ts';
import { httpMetrics } from './http/metrics-middleware.ts';
import { isLoopbackHost } from './net/loopback.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import type { Runtime } from './runtime.ts';
import { openStores } from './store/index.ts';

export interface StartOptions {
  /** Where logs go; default stdout. */
  logDestination?: NodeJS.WritableStream;
  logger?: Logger;
  /** Replaces the config-driven authorizer (users, tokens, verifiers from `config.auth`). */
  auth?: Authorizer;
  /** The file `config` came from, so SIGHUP / POST /reload can re-read it. */
  configFile?: ConfigSource;
}

export interface RunningHookah {
  url: string;
  port: number;
  runtime: Runtime;
  server: Server;
  /** Re-reads the config file; rejects (keeping the running config) when it is invalid. */
  reload(trigger?: string): Promise<ReloadResult>;
  close(): Promise<void>;
}

export async function startHookah(config: Config, options: StartOptions = {}): Promise<RunningHookah> {
  const log = options.logger ?? createLogger(config.log.level, options.logDestination);
  const metrics = new Metrics();
  // Built before storage opens: a bad auth section fails start-up without leaving anything open.
  const configAuth = options.auth ? undefined : new ConfigAuthorizer(config, log, metrics);
  const stores = await openStores(config, log);
  // Several nodes on one store share rate-limit buckets, so a client gets one budget, not one per node.
  if (stores.rateLimits) configAuth?.shareBuckets(stores.rateLimits);
  const bus = new TopicBus(stores.events, stores.transport);
  bus.onPublished((e) => metrics.published.inc({ source: e.source }));
  const shutdown = new AbortController();
  let boundUrl = '';
  const rt: Runtime = {
    config,
    log,
    metrics,
    stores,
    bus,
    auth: options.auth ?? configAuth ?? openAuthorizer,
    dispatcher: undefined as never,
    publicUrl: () => (config.server.publicUrl ?? boundUrl).replace(/\/+$/, ''),
    shutdown: shutdown.signal,
  };
  rt.dispatcher = createDispatcher(rt);
  rt.reload = createConfigReload({
    live: config,
    source: options.configFile,
    log,
    metrics,
    prepare: configAuth
      ? [
          (next) => {
            // server.* (trusted proxies) is not reloadable, so the policy keeps the running one.
            const policy = buildPolicy({ ...next, server: config.server });
            return () => configAuth.install(policy);
          },
        ]
      : [],
  });

  const app = new Koa({ proxy: config.server.trustedProxies.length > 0 });
  app.silent = true;
  app.use(httpMetrics(metrics));
  app.use(errorMiddleware(log.child({ module: 'http' })));
  const edges = createEdges(rt);
  for (const edge of edges) {
    if (edge.router) app.use(edge.router.routes()).use(edge.router.allowedMethods());
  }

  const server = createServer(app.callback());
  server.requestTimeout = 0; // long-lived streams are bounded by their own timers
  server.headersTimeout = 30_000;
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    for (const edge of edges) if (edge.upgrade?.(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.port, config.server.address, () => resolve());
    });
  } catch (err) {
    // e.g. the port is taken: release what was opened, or Redis connections keep the process alive.
    shutdown.abort();
    for (const edge of edges) await edge.close?.();
    await rt.dispatcher.stop(0);
    await stores.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.server.address.includes(':') ? `[${config.server.address}]` : config.server.address;
  boundUrl = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  rt.dispatcher.start();
  const sweep = setInterval(() => {
    stores.events.sweep().catch((err) => log.error({ err }, 'backlog sweep failed'));
  }, config.backlog.sweepInterval);
  sweep.unref();

  log.info({ url: boundUrl, storage: stores.driver, path: stores.driver === 'sqlite' ? config.storage.path : undefined }, 'hookah listening');
  if (!rt.auth.enabled) {
    if (!isLoopbackHost(config.server.address)) {
      log.warn(
        { address: config.server.address },
        'SECURITY: listening on a non-loopback address with NO authentication configured: anyone who can reach this port can publish, read and administer',
      );
    } else {
      log.info('no users configured: the server is open to anyone who can reach it (loopback only)');
    }
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info('shutting down');
      shutdown.abort();
      clearInterval(sweep);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const edge of edges) await edge.close?.();
      server.closeIdleConnections();
      await rt.dispatcher.stop(config.server.shutdownTimeout);
      const timer = setTimeout(() => server.closeAllConnections(), config.server.shutdownTimeout);
      timer.unref();
      await stopped;
      clearTimeout(timer);
      await stores.close();
      log.info('stopped');
    })());

  return { url: boundUrl, port, runtime: rt, server, close, reload: (trigger = 'api') => rt.reload!.reload(trigger) };
}
