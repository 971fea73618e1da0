/**
 * What a request presents: HTTP Basic (RFC 7617), a Bearer token (RFC 6750)
 * in the Authorization header, or `?access_token=` where the client cannot
 * set headers (EventSource, browser WebSocket).
 */
export type Credentials =
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'none' }
  | { kind: 'malformed'; reason: string };

const MAX_CREDENTIAL_LENGTH = 4096;

export function parseCredentials(authorization: string | undefined, queryToken: string | undefined): Credentials {
  if (authorization !== undefined && authorization !== '') {
    if (authorization.length > MAX_CREDENTIAL_LENGTH) return { kind: 'malformed', reason: 'Authorization header is too long' };
    const space = authorization.indexOf(' ');
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : authorization.slice(space + 1).trim();
    if (scheme === 'basic') {
      if (!/^[A-Za-z0-9+/]+=*$/.test(value)) return { kind: 'malformed', reason: 'Basic credentials are not base64' };
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return { kind: 'malformed', reason: 'Basic credentials must be user:password' };
      return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (scheme === 'bearer') {
      if (!value) return { kind: 'malformed', reason: 'Bearer token is empty' };
      return { kind: 'bearer', token: value };
    }
    return { kind: 'malformed', reason: `unsupported authorization scheme ${scheme}; use Basic or Bearer` };
  }
  if (queryToken !== undefined && queryToken !== '') {
    if (queryToken.length > MAX_CREDENTIAL_LENGTH) return { kind: 'malformed', reason: 'access_token is too long' };
    return { kind: 'bearer', token: queryToken };
  }
  return { kind: 'none' };
}
