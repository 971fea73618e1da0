import { anyBody, channelTokenSecurity, empty, errors, header, json, operation, pathParam, query, upgradeResponses, type Json, type Paths } from './build.ts';

const tunnel = ['tunnel'];
const gateway = ['gateway'];
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const channel = pathParam('channel', 'Channel id.');

const issue = (method: 'get' | 'post') =>
  operation({
    operationId: method === 'get' ? 'issueChannel' : 'issueChannelPost',
    summary: 'Issue a tunnel channel (webhook URL and token)',
    description: 'The token is shown once; only its hash is stored. Access control checks `subscribe` on `tunnel`.',
    tags: tunnel,
    permission: 'subscribe',
    responses: {
      [method === 'get' ? '200' : '201']: json('The new channel.', 'ChannelIssued'),
      ...errors(401, 403, [503, 'tunnel.maxChannels reached.']),
    },
  });

function webhookOperations(withPath: boolean): Record<string, Json> {
  return Object.fromEntries(
    METHODS.map((method) => [
      method,
      operation({
        operationId: `tunnelWebhook${withPath ? 'Path' : ''}${method[0]!.toUpperCase()}${method.slice(1)}`,
        summary: `Webhook to a tunnel channel (${method.toUpperCase()}), relayed to the connected client`,
        description:
          'Any method. The path after the channel id and the query string are passed on. The answer is the target\'s (status, headers, body, streamed). Access control: `publish` on `tunnel/{channel}` (grant it to anonymous senders: the URL is the credential).',
        tags: tunnel,
        permission: 'publish',
        parameters: [channel, ...(withPath ? [pathParam('path', 'Path suffix passed to the target (may contain `/`).')] : [])],
        ...(method !== 'get' && method !== 'delete' && { requestBody: anyBody('Relayed byte for byte.') }),
        responses: {
          default: { description: "The target's answer, relayed." },
          '202': json('No client connected: stored for replay (`tunnel.offline: queue`).', 'TunnelQueued', { 'X-Hookah-Message-Id': header('Queue entry id.') }),
          ...errors(
            [404, 'No such channel.'],
            [413, 'Body over tunnel.maxBodyBytes.'],
            [502, 'The client could not reach its target, disconnected, or the answer was too large.'],
            [503, 'No client and `tunnel.offline: reject`, queue full, or too many requests in flight.'],
            [504, 'No answer within tunnel.requestTimeout.'],
          ),
        },
      }),
    ]),
  );
}

function callbackOperations(): Record<string, Json> {
  return Object.fromEntries(
    METHODS.map((method) => [
      method,
      operation({
        operationId: `gatewayCallback${method[0]!.toUpperCase()}${method.slice(1)}`,
        summary: `Third-party callback to a gateway session (${method.toUpperCase()})`,
        description:
          'Published to the topic `gateway/{session}` and sent to the session\'s WebSocket. The correlation id is unforgeable (MAC-protected). Access control: `publish` on `gateway/{session}`.',
        tags: gateway,
        permission: 'publish',
        parameters: [pathParam('correlation', 'Correlation id from `X-Hookah-Callback-Url`.')],
        ...(method !== 'get' && method !== 'delete' && { requestBody: anyBody('The answer.') }),
        responses: { '202': json('Stored and relayed (or stored until the session reconnects).', 'CallbackAccepted'), ...errors(401, 403, [404, 'Unknown, forged or expired callback URL.'], 413) },
      }),
    ]),
  );
}

export const tunnelPaths: Paths = {
  '/new': { get: issue('get'), post: issue('post') },
  '/channels/{channel}': {
    get: operation({
      operationId: 'getChannel',
      summary: "A tunnel channel's state",
      tags: tunnel,
      permission: 'channel-token',
      security: channelTokenSecurity,
      parameters: [channel],
      responses: { '200': json('The channel.', 'ChannelState'), ...errors([401, 'Channel token missing or wrong.'], 404) },
    }),
    delete: operation({
      operationId: 'deleteChannel',
      summary: 'Delete a tunnel channel and its queue; connected clients are closed with 4404',
      tags: tunnel,
      permission: 'channel-token',
      security: channelTokenSecurity,
      parameters: [channel],
      responses: { '204': empty('Deleted.'), ...errors([401, 'Channel token missing or wrong.'], 404) },
    }),
  },
  '/admin/tunnel/channels': {
    get: operation({
      operationId: 'listTunnelChannels',
      summary: 'Tunnel channels with their connected clients (on every node)',
      description:
        'Channels with connected clients first, then the most recently used; gateway sessions are not listed. Access control: `admin` (resource `tunnel`).',
      tags: tunnel,
      permission: 'admin',
      parameters: [query('limit', 'Most channels to return.', { type: 'integer', minimum: 1, maximum: 2000, default: 200 })],
      responses: { '200': json('The channels.', 'TunnelChannelList'), ...errors(400, 401, 403) },
    }),
  },
  '/ws/{channel}': {
    get: operation({
      operationId: 'tunnelClientSocket',
      summary: "WebSocket of a tunnel client (`hookah client`): the channel's requests arrive here",
      description: 'JSON frames, protocol in docs/tunnel.md. The channel token is required.',
      tags: tunnel,
      permission: 'channel-token',
      security: channelTokenSecurity,
      parameters: [channel, query('token', 'The channel token (or the X-Hookah-Channel-Token header).')],
      responses: { ...upgradeResponses(), ...errors(401, 404, [503, 'tunnel.maxClientsPerChannel reached, or shutting down.']) },
    }),
  },
  '/webhook/{channel}': webhookOperations(false),
  '/webhook/{channel}/{path}': webhookOperations(true),
  '/gateway': {
    get: operation({
      operationId: 'gatewaySocket',
      summary: 'WebSocket gateway: dispatch through the durable dispatcher and receive third-party callbacks',
      description: 'Actions and messages in docs/tunnel.md. Without `session` a new session starts; its token is in the first message.',
      tags: gateway,
      permission: 'subscribe',
      parameters: [
        query('session', 'Resume this session (with its token).'),
        query('token', 'The session token.'),
        query('last_event_id', 'Replay callbacks after this id.', { type: 'string', maxLength: 64 }),
      ],
      responses: { ...upgradeResponses(), ...errors(400, 401, 404, [503, 'tunnel.gateway.maxConnections reached, or shutting down.']) },
    }),
  },
  '/gateway/sessions/{session}': {
    delete: operation({
      operationId: 'deleteGatewaySession',
      summary: 'Delete a gateway session now',
      tags: gateway,
      permission: 'channel-token',
      security: channelTokenSecurity,
      parameters: [pathParam('session', 'Session id.')],
      responses: { '204': empty('Deleted.'), ...errors([401, 'Session token missing or wrong.'], 404) },
    }),
  },
  '/gateway/callback/{correlation}': callbackOperations(),
};
