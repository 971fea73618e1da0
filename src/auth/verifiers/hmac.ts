import { decodeBase64, decodeHex, fail, hmac, matchesAny, OK, type HmacAlgorithm, type SignedRequest, type Verifier, type VerifyResult } from './types.ts';

export interface HmacOptions {
  algorithm: HmacAlgorithm;
  header: string;
  encoding: 'hex' | 'base64';
  /** Text before the digest, e.g. `sha256=`; compared case-insensitively. */
  prefix: string;
  secrets: string[];
}

/** Generic HMAC over the raw body, in a header of the operator's choosing. */
export function hmacVerifier(options: HmacOptions): Verifier {
  const type = `hmac-${options.algorithm}`;
  return {
    type,
    verify(req: SignedRequest): VerifyResult {
      const value = req.header(options.header)?.trim();
      if (!value) return fail(`missing ${options.header} header`);
      if (!value.toLowerCase().startsWith(options.prefix.toLowerCase())) return fail(`${options.header} must start with ${options.prefix}`);
      const encoded = value.slice(options.prefix.length);
      const given = options.encoding === 'hex' ? decodeHex(encoded) : decodeBase64(encoded);
      if (!given) return fail(`${options.header} is not ${options.encoding}`);
      if (!matchesAny(given, options.secrets, (s) => hmac(options.algorithm, s, req.body))) {
        return fail(`${options.header} does not match the body`);
      }
      return OK;
    },
  };
}
