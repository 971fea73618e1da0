/**
 * Small builders for OpenAPI 3.1 objects, so the path modules read like the
 * API they describe. Response bodies reference `components.schemas`, which
 * come from the zod schemas in schemas.ts.
 */

export type Json = Record<string, unknown>;
export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options';
export type PathItem = Partial<Record<Method, Json>>;
export type Paths = Record<string, PathItem>;
export type Responses = Record<string, Json>;

/** Which permission of the access-control configuration an operation needs (docs/security.md). */
export type Permission = 'publish' | 'subscribe' | 'read' | 'admin' | 'none' | 'channel-token' | 'credentials';

export const ref = (id: string): Json => ({ $ref: `#/components/schemas/${id}` });

export function json(description: string, schema: string | Json, headers?: Json): Json {
  return { description, content: { 'application/json': { schema: typeof schema === 'string' ? ref(schema) : schema } }, ...(headers && { headers }) };
}

export function text(description: string, example?: string): Json {
  return { description, content: { 'text/plain': { schema: { type: 'string' }, ...(example !== undefined && { example }) } } };
}

export const empty = (description: string, headers?: Json): Json => ({ description, ...(headers && { headers }) });

export const header = (description: string, schema: Json = { type: 'string' }): Json => ({ description, schema });

const ERRORS: Record<number, string> = {
  400: 'Invalid input; `error` says which and why.',
  401: 'No or bad credentials while access control is on; `WWW-Authenticate` names the accepted schemes.',
  403: 'Authenticated, but not permitted.',
  404: 'Not found.',
  409: 'Conflicts with the current state.',
  410: 'Gone.',
  413: 'Body too large.',
  415: 'Unsupported body type.',
  422: 'The configuration file was rejected.',
  426: 'This is a WebSocket endpoint: send an Upgrade request.',
  429: 'Rate limited; see `Retry-After`.',
  502: 'The upstream (tunnel client or target) failed.',
  503: 'Overloaded or shutting down; see `Retry-After` when present.',
  504: 'The upstream did not answer in time.',
};

/** JSON `{"error": …}` responses for the given statuses, with optional specific descriptions. */
export function errors(...codes: (number | [number, string])[]): Responses {
  const out: Responses = {};
  for (const c of codes) {
    const [code, description] = Array.isArray(c) ? c : [c, ERRORS[c] ?? 'Error.'];
    out[String(code)] = json(description, 'Error');
  }
  return out;
}

/** The webhook-queue endpoints' error shape. */
export function queueErrors(...codes: (number | [number, string])[]): Responses {
  const out: Responses = {};
  for (const c of codes) {
    const [code, description] = Array.isArray(c) ? c : [c, ERRORS[c] ?? 'Error.'];
    out[String(code)] = json(description, 'QueueError');
  }
  return out;
}

/** Plain-text errors, as WebSub clients expect from a hub. */
export function textErrors(...codes: (number | [number, string])[]): Responses {
  const out: Responses = {};
  for (const c of codes) {
    const [code, description] = Array.isArray(c) ? c : [c, ERRORS[c] ?? 'Error.'];
    out[String(code)] = text(description);
  }
  return out;
}

export const pathParam = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({
  name,
  in: 'path',
  required: true,
  description,
  schema,
});

export const query = (name: string, description: string, schema: Json = { type: 'string' }, required = false): Json => ({
  name,
  in: 'query',
  required,
  description,
  schema,
});

export const headerParam = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({
  name,
  in: 'header',
  required: false,
  description,
  schema,
});

export interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  permission: Permission;
  parameters?: Json[];
  requestBody?: Json;
  responses: Responses;
  /** Overrides the document-wide security (e.g. channel tokens, or none). */
  security?: Json[];
}

const PERMISSION_NOTE: Record<Permission, string> = {
  publish: 'Needs the `publish` permission on the topic or destination.',
  subscribe: 'Needs the `subscribe` permission on every topic or pattern.',
  read: 'Needs the `read` permission (on the topic, when one is named).',
  admin: 'Needs the `admin` permission.',
  none: 'No authentication.',
  'channel-token': 'Needs the channel (or session) token, not a user credential.',
  credentials: 'Needs valid user credentials (see the description).',
};

export function operation(spec: OperationSpec): Json {
  const note = PERMISSION_NOTE[spec.permission];
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    description: spec.description ? `${spec.description}\n\n${note}` : note,
    tags: spec.tags,
    'x-hookah-permission': spec.permission,
    ...(spec.parameters && { parameters: spec.parameters }),
    ...(spec.requestBody && { requestBody: spec.requestBody }),
    ...(spec.security && { security: spec.security }),
    ...(spec.permission === 'none' && !spec.security && { security: [] }),
    responses: spec.responses,
  };
}

/** Any body, kept byte for byte. */
export const anyBody = (description: string, required = false): Json => ({
  description,
  required,
  content: { '*/*': { schema: {} } },
});

/** The response of a WebSocket endpoint to a successful upgrade, and to a plain GET. */
export const upgradeResponses = (): Responses => ({
  '101': empty('Switching protocols: the WebSocket is open.'),
  ...errors(426),
});

export const channelTokenSecurity: Json[] = [{ channelTokenHeader: [] }, { channelTokenQuery: [] }, { bearerAuth: [] }];
