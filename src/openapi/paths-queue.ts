import { anyBody, empty, header, json, operation, pathParam, queueErrors, text, type Paths } from './build.ts';

const tags = ['queues'];
const clientParam = pathParam('client', 'Client name: 1-128 characters, no `/`.', { type: 'string', maxLength: 128 });
const emptyOk = empty('Done (empty body).');

const reload = (method: 'POST' | 'GET') =>
  operation({
    operationId: method === 'POST' ? 'reload' : 'reloadGet',
    summary: 'Re-read the configuration file',
    description: `${method === 'GET' ? 'Kept for clients of the original Webhook Queue. ' : ''}Needs a user with \`canReload\` or \`admin\` (anyone on an open server). Invalid files are refused and the running configuration stays.`,
    tags,
    permission: 'credentials',
    responses: {
      '200': emptyOk,
      ...queueErrors(401, [403, 'The user may not reload.'], [409, 'Started without a config file.'], [422, 'The new file is invalid; the reason follows.']),
    },
  });

export const queuePaths: Paths = {
  '/q/{name}': {
    post: operation({
      operationId: 'enqueue',
      summary: 'Enqueue a webhook on a queue (the topic q/<name>)',
      description: "Subject to the queue's allow-list and signature verifier (plus user credentials for `public: false` queues). Body stored byte-exact.",
      tags,
      permission: 'publish',
      parameters: [pathParam('name', 'Queue name.', { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$' })],
      requestBody: anyBody('The webhook.'),
      responses: {
        '200': empty('Stored (empty body).', { 'X-Hookah-Event-Id': header('The message id.') }),
        ...queueErrors(
          [401, 'Signature (or, for a non-public queue, credentials) missing or wrong; nothing stored.'],
          [403, 'Source address not in allowIps.'],
          [404, 'No such queue.'],
          [413, 'Larger than the queue allows; its clients will be told to refresh.'],
          429,
        ),
      },
    }),
  },
  '/listen/{client}/{queue}': {
    get: operation({
      operationId: 'listen',
      summary: 'Register a client on a queue; it receives what arrives from now on',
      tags,
      permission: 'subscribe',
      parameters: [clientParam, pathParam('queue', 'Queue name.')],
      responses: {
        '200': emptyOk,
        ...queueErrors([400, 'Already listening with that name, or too many clients.'], 401, 403, [404, 'No such queue.']),
      },
    }),
  },
  '/read/{client}': {
    get: operation({
      operationId: 'read',
      summary: 'Collect what arrived since the last read',
      tags,
      permission: 'subscribe',
      parameters: [clientParam],
      responses: {
        '200': json('New messages (possibly none).', 'QueueMessageList'),
        ...queueErrors(401, [404, 'No such client for this user.'], [409, 'Several nodes only: reads of the same client through other nodes kept moving its cursor first; retry.'], [410, '`refresh: true`: messages were lost, rebuild state; `refresh: false`: the client was disconnected.']),
      },
    }),
  },
  '/unlisten/{client}': {
    get: operation({
      operationId: 'unlisten',
      summary: 'Remove a client',
      tags,
      permission: 'subscribe',
      parameters: [clientParam],
      responses: { '200': emptyOk, ...queueErrors(401, [404, 'That client does not exist.']) },
    }),
  },
  '/setPassword': {
    post: operation({
      operationId: 'setPassword',
      summary: 'Change your own password (written to the config file as a hash, then reloaded)',
      tags,
      permission: 'credentials',
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewPassword' } } } },
      responses: {
        '200': emptyOk,
        ...queueErrors(400, 401, [409, 'No users, no config file, or the user is not in the file.'], [422, 'The rewritten file was rejected.']),
      },
    }),
  },
  '/reload': { post: reload('POST'), get: reload('GET') },
  '/time': {
    get: operation({
      operationId: 'time',
      summary: 'Server start time, Unix seconds',
      tags,
      permission: 'none',
      responses: { '200': text('Unix seconds.', '1718000000') },
    }),
  },
};
