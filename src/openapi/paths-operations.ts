import { empty, errors, header, json, operation, query, pathParam, type Paths } from './build.ts';

const tags = ['operations'];

export const operationsPaths: Paths = {
  '/healthz': {
    get: operation({
      operationId: 'getHealth',
      summary: 'Liveness: the process answers and its storage responds',
      tags,
      permission: 'none',
      responses: {
        '200': json('Healthy.', 'Health'),
        '503': json('Shutting down (`status: "shutting-down"`).', 'Health'),
        ...errors([500, 'The storage did not answer.']),
      },
    }),
  },
  '/metrics': {
    get: operation({
      operationId: 'getMetrics',
      summary: 'Prometheus metrics of every subsystem',
      description: 'Text exposition format. See docs/operations.md for the list of metrics.',
      tags,
      permission: 'admin',
      responses: {
        '200': {
          description: 'Prometheus text format 0.0.4.',
          content: { 'text/plain': { schema: { type: 'string' }, example: '# HELP hookah_events_published_total Events published…\n' } },
        },
        ...errors(401, 403),
      },
    }),
  },
  '/openapi.json': {
    get: operation({
      operationId: 'getOpenApi',
      summary: 'This document',
      description: 'Public, like the source it describes.',
      tags,
      permission: 'none',
      responses: { '200': json('OpenAPI 3.1 document.', { type: 'object' }) },
    }),
  },
  '/admin/overview': {
    get: operation({
      operationId: 'getOverview',
      summary: 'Dashboard summary: queue, subscribers, topics with rates, tunnel',
      description:
        'Topics are the backlog topics plus WebSub topics without messages yet, most active first (5-minute rate, then last message). Rates and `published` count what this node published since it started.',
      tags,
      permission: 'admin',
      parameters: [query('limit', 'Most topics to return.', { type: 'integer', minimum: 1, maximum: 2000, default: 200 })],
      responses: { '200': json('The summary.', 'Overview'), ...errors(400, 401, 403) },
    }),
  },
  '/ui': {
    get: operation({
      operationId: 'redirectUi',
      summary: 'Redirects to the dashboard at /ui/',
      tags,
      permission: 'admin',
      responses: { '308': empty('To `ui/` (relative).', { Location: header('`ui/`') }), ...errors(401, 403) },
    }),
  },
  '/ui/': {
    get: operation({
      operationId: 'getUi',
      summary: 'The web dashboard',
      description:
        'A single page (Preact, bundled at build time, no external resources). With users configured the browser asks for a user name and password (Basic) and sends them with every request the page makes.',
      tags,
      permission: 'admin',
      responses: {
        '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
        '304': empty('Not modified (`If-None-Match`).'),
        ...errors(401, 403, [503, 'The dashboard bundle was not built (`npm run build:ui`).']),
      },
    }),
  },
  '/ui/{file}': {
    get: operation({
      operationId: 'getUiAsset',
      summary: 'A file of the dashboard bundle',
      description: 'Content-hashed file names are cacheable for a year (`immutable`).',
      tags,
      permission: 'admin',
      parameters: [pathParam('file', 'File name, e.g. `app-3QF7K2ZP.js`.')],
      responses: {
        '200': {
          description: 'The file.',
          content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
        },
        '304': empty('Not modified.'),
        ...errors(401, 403, 404, 503),
      },
    }),
  },
};
