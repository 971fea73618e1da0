import { errors, header, headerParam, json, operation, pathParam, query, type Paths } from './build.ts';

const KINDS = ['dispatch', 'websub', 'errback', 'callback', 'tunnel', 'gateway'];
const STATUSES = ['pending', 'in_flight', 'delivered', 'failed'];

const urlParam = (name: string, description: string) => query(name, description, { type: 'string', format: 'uri', maxLength: 8192 });

export const dispatchPaths: Paths = {
  '/dispatch': {
    post: operation({
      operationId: 'dispatch',
      summary: 'Deliver a webhook durably (and/or publish it to a topic)',
      description: [
        'Stores the payload, answers 202, then delivers it to `_url` with retries until it answers 2xx (README.md#dispatcher-post-dispatch).',
        'Control parameters start with `_` and may be in the query string or, for form and multipart bodies, in the body.',
        'Also accepted: `_header.<Name>=<value>` (repeatable, at most 32) adds a header to the delivery.',
        'An unknown or repeated `_` parameter is a 400. With a raw body (JSON, XML, …) non-`_` query parameters are a 400.',
      ].join(' '),
      tags: ['dispatch'],
      permission: 'publish',
      parameters: [
        urlParam('_url', 'Destination (absolute http/https). `_url` and/or `_topic` is required.'),
        query('_topic', 'Also (or only) publish to this topic.', { type: 'string', maxLength: 512 }),
        query('_event', 'Event type of the topic event (SSE `event:`).', { type: 'string', maxLength: 256 }),
        urlParam('_errback', 'POSTed a JSON report when delivery finally fails.'),
        urlParam('_callback', "POSTed the destination's response after a 2xx."),
        query('_id', 'Idempotency key (same as the `Idempotency-Key` header).', { type: 'string', maxLength: 255 }),
        query('_retries', 'Maximum attempts, the first included.', { type: 'integer', minimum: 1, maximum: 100 }),
        query('_timeout', 'Per-attempt timeout: `500ms`, `10s`, `1m` or milliseconds.', { type: 'string' }),
        query('_method', 'Delivery method.', { type: 'string', enum: ['POST', 'PUT', 'PATCH'], default: 'POST' }),
        headerParam('Idempotency-Key', 'A repeat within `dispatcher.idempotencyTtl` returns the first message.'),
      ],
      requestBody: {
        description: 'The payload: form fields or multipart parts (files included) with the `_` ones removed and the rest kept byte for byte, or any other body delivered whole.',
        required: false,
        content: {
          'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } },
          'multipart/form-data': { schema: { type: 'object', additionalProperties: {} } },
          '*/*': { schema: {} },
        },
      },
      responses: {
        '202': json('Stored; delivery follows.', 'DispatchAccepted', { Location: header('The status URL, when a delivery was queued.') }),
        ...errors(400, 401, 403, 413, [415, 'A form body with a `Content-Encoding`: its fields cannot be read.'], [422, 'The idempotency key was used for a different request.'], 429, [503, 'With `_url`: `dispatcher.maxPending` messages are already waiting (`Retry-After`); nothing was stored. Also during a storage outage.']),
      },
    }),
  },
  '/messages': {
    get: operation({
      operationId: 'listMessages',
      summary: 'Deliveries, newest first',
      tags: ['dispatch'],
      permission: 'admin',
      parameters: [
        query('status', 'Only deliveries in this state.', { type: 'string', enum: STATUSES }),
        query('kind', 'Only deliveries of this kind.', { type: 'string', enum: KINDS }),
        query('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 500, default: 50 }),
        query('before', 'Cursor: the `next` of the previous page.', { type: 'string', maxLength: 128 }),
      ],
      responses: { '200': json('A page of deliveries.', 'MessagePage'), ...errors(400, 401, 403) },
    }),
  },
  '/messages/{id}': {
    get: operation({
      operationId: 'getMessage',
      summary: 'One delivery with every attempt',
      tags: ['dispatch'],
      permission: 'admin',
      parameters: [pathParam('id', 'Message id (`msg_…`).', { type: 'string', maxLength: 128 })],
      responses: { '200': json('The delivery.', 'Message'), ...errors(400, 401, 403, 404) },
    }),
  },
  '/messages/{id}/retry': {
    post: operation({
      operationId: 'retryMessage',
      summary: 'Attempt a failed or waiting delivery again now',
      description: 'The attempt count carries on; a failed message gets one more attempt.',
      tags: ['dispatch'],
      permission: 'admin',
      parameters: [pathParam('id', 'Message id.', { type: 'string', maxLength: 128 })],
      responses: {
        '202': json('Queued for an attempt now.', 'RetryAccepted'),
        ...errors(400, 401, 403, 404, [409, 'Already delivered.']),
      },
    }),
  },
};
