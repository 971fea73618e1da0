/**
 * The key that per-destination limits count by: host and port, as in the
 * URL's authority, so two services on one machine get a share each.
 */
export function hostOf(url: string): string {
  return new URL(url).host;
}

/** How claims are bounded per destination: at most `cap` deliveries of one host held at once, counting `held`. */
export interface HostLimit {
  cap: number;
  held: ReadonlyMap<string, number>;
}
/** Hosts one host-by-host claim visits at most; the next claim goes on from there. */
export const CLAIM_MAX_HOSTS = 1000;
