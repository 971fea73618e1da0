import { hmacVerifier } from './hmac.ts';
import type { Verifier } from './types.ts';

/** Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`. */
export function shopifyVerifier(secrets: string[]): Verifier {
  const inner = hmacVerifier({ algorithm: 'sha256', header: 'x-shopify-hmac-sha256', encoding: 'base64', prefix: '', secrets });
  return { type: 'shopify', verify: (req) => inner.verify(req) };
}
