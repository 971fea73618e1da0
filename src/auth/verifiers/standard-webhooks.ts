import { checkTimestamp, decodeBase64, fail, hmac, matchesAny, type SignedRequest, type Verifier, type VerifyResult } from './types.ts';

const MAX_SIGNATURES = 16;

/** `whsec_<base64>` (or bare base64) is the key's bytes, as the spec and its libraries read it. */
export function standardWebhooksKey(secret: string): Buffer {
  const body = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const key = decodeBase64(body);
  if (!key || key.length === 0) throw new Error('a standard-webhooks secret must be whsec_<base64>');
  return key;
}

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp`
 * and `webhook-signature: v1,<base64> [v1,<base64> …]` over
 * `<id>.<timestamp>.<body>`. Svix's `svix-*` header names are accepted too.
 */
export function standardWebhooksVerifier(secrets: string[], toleranceMs: number): Verifier {
  const keys = secrets.map(standardWebhooksKey);
  return {
    type: 'standard-webhooks',
    verify(req: SignedRequest): VerifyResult {
      const get = (name: string) => req.header(`webhook-${name}`) ?? req.header(`svix-${name}`);
      const id = get('id');
      const ts = get('timestamp');
      const header = get('signature');
      if (!id || !ts || !header) return fail('missing webhook-id, webhook-timestamp or webhook-signature header');
      const given: Buffer[] = [];
      for (const part of header.trim().split(/\s+/).slice(0, MAX_SIGNATURES)) {
        const comma = part.indexOf(',');
        if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
        const sig = decodeBase64(part.slice(comma + 1));
        if (sig) given.push(sig);
      }
      if (given.length === 0) return fail('webhook-signature has no v1 signature');
      const content = Buffer.concat([Buffer.from(`${id}.${ts}.`), req.body]);
      if (!given.some((sig) => matchesAny(sig, keys, (k) => hmac('sha256', k, content)))) {
        return fail('webhook-signature does not match the body');
      }
      return checkTimestamp(ts.trim(), req.now, toleranceMs, 'webhook-timestamp');
    },
  };
}
