import { hmacVerifier } from './hmac.ts';
import type { Verifier } from './types.ts';

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
export function githubVerifier(secrets: string[]): Verifier {
  const inner = hmacVerifier({ algorithm: 'sha256', header: 'x-hub-signature-256', encoding: 'hex', prefix: 'sha256=', secrets });
  return { type: 'github', verify: (req) => inner.verify(req) };
}
