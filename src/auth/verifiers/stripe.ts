import { checkTimestamp, decodeHex, fail, hmac, matchesAny, type SignedRequest, type Verifier, type VerifyResult } from './types.ts';

const MAX_SIGNATURES = 16;

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` where v1 is the
 * HMAC-SHA256 of `<t>.<body>`. The timestamp bounds replays.
 */
export function stripeVerifier(secrets: string[], toleranceMs: number): Verifier {
  return {
    type: 'stripe',
    verify(req: SignedRequest): VerifyResult {
      const header = req.header('stripe-signature');
      if (!header) return fail('missing Stripe-Signature header');
      let t: string | undefined;
      const v1: Buffer[] = [];
      for (const item of header.split(',')) {
        const eq = item.indexOf('=');
        if (eq < 0) continue;
        const key = item.slice(0, eq).trim();
        const value = item.slice(eq + 1).trim();
        if (key === 't') t = value;
        else if (key === 'v1' && v1.length < MAX_SIGNATURES) {
          const sig = decodeHex(value);
          if (sig) v1.push(sig);
        }
      }
      if (t === undefined || v1.length === 0) return fail('Stripe-Signature has no t= timestamp or no v1= signature');
      const signed = Buffer.concat([Buffer.from(`${t}.`), req.body]);
      if (!v1.some((sig) => matchesAny(sig, secrets, (s) => hmac('sha256', s, signed)))) {
        return fail('Stripe-Signature does not match the body');
      }
      return checkTimestamp(t, req.now, toleranceMs, 'Stripe-Signature timestamp');
    },
  };
}
