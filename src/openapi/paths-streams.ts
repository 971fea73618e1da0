import { anyBody, errors, headerParam, json, operation, pathParam, query, upgradeResponses, type Json, type Paths } from './build.ts';

const tags = ['streams'];

const topics = query('topic', 'Topic or pattern (`+` one segment, trailing `#` the rest, `*` all); repeatable, up to 64.', { type: 'array', items: { type: 'string', maxLength: 512 } }, true);
topics.style = 'form';
topics.explode = true;

const resume: Json[] = [
  query('since', 'Resume after this message id (lowest precedence).'),
  query('last_event_id', 'Resume after this message id.'),
  headerParam('Last-Event-ID', 'Resume after this message id (highest precedence).'),
];

const sseParams: Json[] = [query('retry', 'Reconnect delay hinted to the client, ms.', { type: 'integer', minimum: 100, maximum: 600000, default: 3000 })];

const sseContent: Json = {
  'text/event-stream': {
    schema: { type: 'string' },
    description: 'Per message `id:`, `event:` (its type, or `message`) and `data:` (an Envelope). Also `event: gap` and `event: error` (slow consumer), without `id:`.',
  },
};

const streamErrors = () => errors(400, 401, 403, [503, 'Connection limit reached (`Retry-After: 5`) or shutting down.']);

const topicPathNote = 'Topic names contain `/` and are taken from the path as they are; write a literal `%2F` where the path would be ambiguous.';

export const streamsPaths: Paths = {
  '/stream': {
    get: operation({
      operationId: 'stream',
      summary: 'Follow topics: chunked NDJSON, or SSE with Accept: text/event-stream',
      description:
        'A long-lived 200. Chunked: one Envelope (or control object, see StreamControl) per `\\r\\n`-terminated line; an empty line is a keep-alive. With `Accept: text/event-stream` the response is Server-Sent Events (as GET /sse).',
      tags,
      permission: 'subscribe',
      parameters: [topics, query('delimited', 'Twitter-style length-prefixed framing.', { type: 'string', enum: ['length'] }), ...resume, ...sseParams],
      responses: {
        '200': {
          description: 'The stream.',
          content: {
            'application/x-ndjson': { schema: { $ref: '#/components/schemas/Envelope' }, description: 'One Envelope or StreamControl per line' },
            ...sseContent,
          },
        },
        ...streamErrors(),
      },
    }),
  },
  '/sse': {
    get: operation({
      operationId: 'sse',
      summary: 'Follow topics as Server-Sent Events (for EventSource)',
      tags,
      permission: 'subscribe',
      parameters: [topics, ...resume, ...sseParams],
      responses: { '200': { description: 'The event stream.', content: sseContent }, ...streamErrors() },
    }),
  },
  '/poll': {
    get: operation({
      operationId: 'poll',
      summary: 'Long-poll: messages newer than `since`, waiting for one if there are none',
      tags,
      permission: 'subscribe',
      parameters: [
        topics,
        ...resume,
        query('timeout', 'How long to wait: `500ms`, `30s`, `2m` or ms (default streams.pollTimeout, capped at streams.maxPollTimeout).'),
        query('limit', 'Most messages in one answer.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
      ],
      responses: { '200': json('Messages (possibly none after the timeout); pass `next` as `since`.', 'PollResult'), ...streamErrors() },
    }),
  },
  '/hook/{topic}': Object.fromEntries(
    (['get', 'post', 'put', 'patch', 'delete'] as const).map((method) => [
      method,
      operation({
        operationId: `hook${method[0]!.toUpperCase()}${method.slice(1)}`,
        summary: `Publish the request to the topic (sockethook ingress, ${method.toUpperCase()})`,
        description: `Any method publishes: body byte-exact with its Content-Type and end-to-end headers, \`source: "hook"\`. ${topicPathNote} Passes the topic's inbound verifier, if any.`,
        tags,
        permission: 'publish',
        parameters: [pathParam('topic', 'The topic (may contain `/`).')],
        ...(method !== 'get' && method !== 'delete' && { requestBody: anyBody('Published as is.') }),
        responses: { '200': json('Published.', 'Published'), ...errors(400, 401, 403, 413, 429) },
      }),
    ]),
  ),
  '/topics': {
    get: operation({
      operationId: 'listTopics',
      summary: 'Topics in the backlog the caller may read, with live subscriber counts',
      tags,
      permission: 'read',
      parameters: [query('limit', 'Most topics.', { type: 'integer', minimum: 1, maximum: 10000, default: 1000 })],
      responses: { '200': json('Topics by name.', 'TopicList'), ...errors(400, 401, 403) },
    }),
  },
  '/topics/{topic}': {
    get: operation({
      operationId: 'getTopic',
      summary: "One topic's backlog row",
      description: topicPathNote,
      tags,
      permission: 'read',
      parameters: [pathParam('topic', 'The topic (may contain `/`).')],
      responses: { '200': json('The topic.', 'Topic'), ...errors(400, 401, 403, [404, 'Nothing of that topic in the backlog.']) },
    }),
  },
  '/topics/{topic}/messages': {
    get: operation({
      operationId: 'getTopicMessages',
      summary: 'Backlog messages of a topic or pattern, oldest first',
      description: topicPathNote,
      tags,
      permission: 'read',
      parameters: [
        pathParam('topic', 'Topic or pattern (may contain `/`).'),
        query('since', 'Only messages after this id.'),
        query('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
      ],
      responses: { '200': json('A page of messages; page with `since=<next>`.', 'TopicMessages'), ...errors(400, 401, 403) },
    }),
  },
  '/topics/{topic}/messages/{id}/redeliver': {
    post: operation({
      operationId: 'redeliverTopicMessage',
      summary: 'Publish a stored message again (new id, source "redeliver")',
      description: `Every live subscriber and every push subscription gets it again. ${topicPathNote}`,
      tags,
      permission: 'admin',
      parameters: [pathParam('topic', 'The topic (may contain `/`).'), pathParam('id', 'Message id.')],
      responses: { '202': json('Published again.', 'Redelivered'), ...errors(400, 401, 403, [404, 'No such message on that topic in the backlog.']) },
    }),
  },
  '/ws': {
    get: operation({
      operationId: 'websocketEnvelopes',
      summary: 'WebSocket: envelopes of the `topic` parameters, with subscribe/unsubscribe actions',
      description:
        'Send `{"action":"subscribe"|"unsubscribe","topic":"…"}` to change subscriptions; replies carry `ok` or `error`. `format=sockethook` switches the message shape. Browsers from origins not in streams.corsOrigins get 403.',
      tags,
      permission: 'subscribe',
      parameters: [
        { ...topics, required: false },
        query('format', 'Message shape.', { type: 'string', enum: ['envelope', 'sockethook'], default: 'envelope' }),
        ...resume,
      ],
      responses: { ...upgradeResponses(), ...streamErrors() },
    }),
  },
  '/socket/{topic}': {
    get: operation({
      operationId: 'websocketSockethook',
      summary: 'WebSocket in the sockethook format (`{headers, endpoint, data}`)',
      description: `\`format=envelope\` sends envelopes instead. ${topicPathNote}`,
      tags,
      permission: 'subscribe',
      parameters: [
        pathParam('topic', 'Topic or pattern (may contain `/`).'),
        query('format', 'Message shape.', { type: 'string', enum: ['sockethook', 'envelope'], default: 'sockethook' }),
        query('since', 'Replay the backlog after this id first.'),
      ],
      responses: { ...upgradeResponses(), ...streamErrors() },
    }),
  },
};
