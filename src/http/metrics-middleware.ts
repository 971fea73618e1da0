import type { Context, Next } from 'koa';
import type { Metrics } from '../metrics.ts';

/** Label for requests no route matched, so scanners cannot create a label value per path. */
const UNMATCHED = 'unmatched';

/**
 * Counts every HTTP request and times it to the response head, labelled by
 * the matched route pattern (`/messages/:id`, never the concrete path) so
 * the number of series stays bounded. Long-lived responses (streams, SSE)
 * are timed until their headers are sent, not until they end.
 *
 * Install it outermost, before the error middleware, so it sees the status
 * that is finally sent.
 */
export function httpMetrics(metrics: Metrics) {
  const requests = metrics.counter('hookah_http_requests_total', 'HTTP requests by method, route and status code', ['method', 'route', 'status']);
  const duration = metrics.histogram(
    'hookah_http_request_duration_seconds',
    'Time from request to response head, by method and route',
    ['method', 'route'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const inFlight = metrics.gauge('hookah_http_requests_in_flight', 'HTTP requests being handled (streams count until their head is sent)');

  return async (ctx: Context, next: Next): Promise<void> => {
    const started = process.hrtime.bigint();
    inFlight.inc();
    try {
      await next();
    } finally {
      inFlight.dec();
      const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
      const labels = { method: methodLabel(ctx.method), route: typeof route === 'string' ? route : UNMATCHED };
      requests.inc({ ...labels, status: String(ctx.status) });
      duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Arbitrary method tokens would be unbounded label values too. */
function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}
