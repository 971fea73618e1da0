import { empty, errors, json, operation, pathParam, query, textErrors, type Json, type Paths } from './build.ts';

const tags = ['websub'];

const hubForm: Json = {
  type: 'object',
  properties: {
    'hub.mode': { type: 'string', enum: ['subscribe', 'unsubscribe', 'publish'] },
    'hub.callback': { type: 'string', format: 'uri', maxLength: 4096 },
    'hub.topic': { type: 'string', maxLength: 512, description: 'Topic (subscribe/unsubscribe), or topic URL that changed (publish; repeatable)' },
    'hub.url': { type: 'string', format: 'uri', description: 'Publish: topic URL that changed (repeatable, up to 100 with hub.topic)' },
    'hub.lease_seconds': { type: 'integer', minimum: 1 },
    'hub.secret': { type: 'string', maxLength: 199, description: 'Under 200 bytes' },
    'hub.verify': { type: 'string', enum: ['sync', 'async'], description: 'PuSH 0.3' },
    'hub.verify_token': { type: 'string', maxLength: 1024, description: 'PuSH 0.3' },
  },
};

function hubOperation(operationId: string, summary: string, defaultMode: string | undefined): Json {
  return operation({
    operationId,
    summary,
    description: [
      defaultMode ? `Same as POST /hub with \`hub.mode\` defaulting to \`${defaultMode}\`.` : 'Subscribe, unsubscribe or publish, chosen by `hub.mode` (W3C WebSub; PuSH 0.3/0.4 clients work too).',
      'Parameters may also be in the query string (form fields win).',
      'A fat ping — `hub.mode=publish&hub.topic=…` in the query string and the content as the body (any Content-Type) — publishes that content on the topic.',
      'Errors are plain text, as WebSub clients expect. Subscribing needs `subscribe` on the topic, publishing `publish`.',
    ].join(' '),
    tags,
    permission: defaultMode === 'publish' ? 'publish' : 'subscribe',
    parameters: [
      query('hub.mode', 'Also accepted in the query string.', { type: 'string', enum: ['subscribe', 'unsubscribe', 'publish'] }),
      query('hub.topic', 'Also accepted in the query string; names the topic of a fat ping.'),
    ],
    requestBody: {
      required: false,
      content: { 'application/x-www-form-urlencoded': { schema: hubForm }, '*/*': { schema: {}, description: 'Fat ping content' } },
    },
    responses: {
      '202': {
        description: 'Subscription request accepted (verification of intent follows), or fat ping published.',
        content: { 'text/plain': { schema: { type: 'string' } }, 'application/json': { schema: { $ref: '#/components/schemas/FatPingAccepted' } } },
      },
      '204': empty('Publish ping accepted (fetch follows), or `hub.verify=sync` subscription verified.'),
      ...textErrors(
        400,
        [403, 'Refused by the policy (`hub.verify=sync`) or access control.'],
        [409, '`hub.verify=sync` and the callback did not confirm; the reason follows.'],
        413,
        415,
        503,
      ),
      ...errors(401),
    },
  });
}

export const hubPaths: Paths = {
  '/hub': { post: hubOperation('hub', 'WebSub hub endpoint', undefined) },
  '/subscribe': { post: hubOperation('hubSubscribe', 'WebSub subscribe (hub.mode defaults to subscribe)', 'subscribe') },
  '/publish': { post: hubOperation('hubPublish', 'WebSub publish (hub.mode defaults to publish)', 'publish') },
  '/hub/subscriptions': {
    get: operation({
      operationId: 'listHubSubscriptions',
      summary: 'WebSub subscriptions in id order, secrets hidden',
      tags,
      permission: 'admin',
      parameters: [
        query('topic', 'Only subscriptions of this topic.'),
        query('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
        query('after', 'Cursor: `next_after` of the previous page.'),
      ],
      responses: { '200': json('A page of subscriptions.', 'HubSubscriptionPage'), ...errors(400, 401, 403) },
    }),
  },
  '/hub/subscriptions/{id}': {
    get: operation({
      operationId: 'getHubSubscription',
      summary: 'One WebSub subscription',
      tags,
      permission: 'admin',
      parameters: [pathParam('id', 'Subscription id (`sub_…`).')],
      responses: { '200': json('The subscription.', 'HubSubscription'), ...errors(401, 403, 404) },
    }),
    delete: operation({
      operationId: 'deleteHubSubscription',
      summary: 'End a WebSub subscription now (no notice is sent)',
      tags,
      permission: 'admin',
      parameters: [pathParam('id', 'Subscription id.')],
      responses: { '204': empty('Deleted.'), ...errors(401, 403, 404) },
    }),
  },
  '/hub/topics': {
    get: operation({
      operationId: 'listHubTopics',
      summary: 'Subscription counts per WebSub topic',
      tags,
      permission: 'admin',
      parameters: [query('limit', 'Most topics.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 })],
      responses: { '200': json('Counts.', 'HubTopicList'), ...errors(400, 401, 403) },
    }),
  },
};
