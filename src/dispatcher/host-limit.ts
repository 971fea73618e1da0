/** Scheme, then the authority up to its end; user info, if any, is not part of the host. */
const AUTHORITY = /^[^:]+:\/\/(?:[^@/?#]*@)?([^/?#]*)/;

/**
 * The key that per-destination limits count by: host and port, as in the
 * URL's authority, so two services on one machine get a share each. `url`
 * is a stored, normalised href (as `new URL(…).href` writes it), so reading
 * the authority gives `URL.host` without parsing the whole URL again on every
 * delivery; the Redis store's Lua `hostOf` reads it the same way.
 */
export function hostOf(url: string): string {
  return AUTHORITY.exec(url)?.[1] ?? '';
}

/** How claims are bounded per destination: at most `cap` deliveries of one host held at once, counting `held`. */
export interface HostLimit {
  cap: number;
  held: ReadonlyMap<string, number>;
}
/** Hosts one host-by-host claim visits at most; the next claim goes on from there. */
export const CLAIM_MAX_HOSTS = 1000;
