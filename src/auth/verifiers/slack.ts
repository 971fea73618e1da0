import { checkTimestamp, decodeHex, fail, hmac, matchesAny, type SignedRequest, type Verifier, type VerifyResult } from './types.ts';

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">` with
 * `X-Slack-Request-Timestamp: <ts>`, checked against the tolerance.
 */
export function slackVerifier(secrets: string[], toleranceMs: number): Verifier {
  return {
    type: 'slack',
    verify(req: SignedRequest): VerifyResult {
      const signature = req.header('x-slack-signature')?.trim();
      if (!signature) return fail('missing X-Slack-Signature header');
      const ts = req.header('x-slack-request-timestamp')?.trim();
      if (!ts) return fail('missing X-Slack-Request-Timestamp header');
      if (!signature.startsWith('v0=')) return fail('X-Slack-Signature must start with v0=');
      const given = decodeHex(signature.slice(3));
      if (!given) return fail('X-Slack-Signature is not hex');
      const base = Buffer.concat([Buffer.from(`v0:${ts}:`), req.body]);
      if (!matchesAny(given, secrets, (s) => hmac('sha256', s, base))) return fail('X-Slack-Signature does not match the body');
      return checkTimestamp(ts, req.now, toleranceMs, 'X-Slack-Request-Timestamp');
    },
  };
}
