import { createHash } from 'node:crypto';
import { fail, matchesAny, OK, type SignedRequest, type Verifier, type VerifyResult } from './types.ts';

const digest = (value: string | Buffer) => createHash('sha256').update(value).digest();

/** A shared secret sent as-is in a header (GitLab's X-Gitlab-Token and similar). */
export function tokenVerifier(header: string, secrets: string[]): Verifier {
  return {
    type: 'token',
    verify(req: SignedRequest): VerifyResult {
      const value = req.header(header);
      if (!value) return fail(`missing ${header} header`);
      // Hashing both sides first makes the comparison constant-time whatever the lengths.
      if (!matchesAny(digest(value), secrets, digest)) return fail(`${header} does not match`);
      return OK;
    },
  };
}
