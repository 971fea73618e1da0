import type {
  HubSubscriptionPageJson,
  MessageJson,
  MessagePageJson,
  OverviewJson,
  TunnelChannelListJson,
} from '../../src/openapi/schemas.ts';

export type {
  AttemptJson,
  EnvelopeJson,
  HubSubscriptionJson,
  MessageJson,
  MessageSummaryJson,
  OverviewJson,
  OverviewTopicJson,
  TunnelChannelListJson,
} from '../../src/openapi/schemas.ts';

export type TunnelChannelJson = TunnelChannelListJson['channels'][number];

/**
 * The dashboard talks only to the server that served it. URLs are relative
 * to the page (/ui/ → ../), so it also works under a reverse proxy's path
 * prefix. Same-origin requests carry the Basic credentials the browser
 * asked for when the page itself answered 401.
 */
export const BASE = new URL('../', window.location.href);

export function apiUrl(path: string, params: Record<string, string | undefined> = {}): URL {
  const url = new URL(path.replace(/^\//, ''), BASE);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  return url;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, params?: Record<string, string | undefined>): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), { method, credentials: 'same-origin', headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, `cannot reach the server: ${(err as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let reason = text || res.statusText;
    try {
      reason = (JSON.parse(text) as { error?: string }).error ?? reason;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(res.status, `${res.status}: ${reason}`);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Channels the tunnel view asks for; the route caps it too. */
const TUNNEL_CHANNEL_LIMIT = 200;

export const api = {
  overview: () => request<OverviewJson>('GET', '/admin/overview'),
  messages: (params: { status?: string; kind?: string; before?: string; limit?: string }) => request<MessagePageJson>('GET', '/messages', params),
  message: (id: string) => request<MessageJson>('GET', `/messages/${encodeURIComponent(id)}`),
  retry: (id: string) => request<{ id: string; status: string }>('POST', `/messages/${encodeURIComponent(id)}/retry`),
  subscriptions: (params: { topic?: string; after?: string }) => request<HubSubscriptionPageJson>('GET', '/hub/subscriptions', { ...params, limit: '200' }),
  endSubscription: (id: string) => request<void>('DELETE', `/hub/subscriptions/${encodeURIComponent(id)}`),
  tunnelChannels: () => request<TunnelChannelListJson>('GET', '/admin/tunnel/channels', { limit: String(TUNNEL_CHANNEL_LIMIT) }),
};
