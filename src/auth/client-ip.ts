import ipaddr from 'ipaddr.js';

/**
 * Source addresses for allow-lists and per-IP rate limits. X-Forwarded-For
 * is only believed hop by hop from the right, while each hop is a trusted
 * proxy: a client cannot choose its own address by sending the header.
 * (Koa's `ctx.ip` with `proxy: true` takes the left-most entry from any
 * peer, so it is not used here.)
 */

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class IpRanges {
  readonly #ranges: Range[];

  constructor(entries: readonly string[]) {
    this.#ranges = entries.map((entry) => {
      if (entry.includes('/')) {
        const [addr, bits] = ipaddr.parseCIDR(entry);
        return [unmap(addr), addr.kind() === 'ipv6' && unmap(addr).kind() === 'ipv4' ? bits - 96 : bits];
      }
      const addr = unmap(ipaddr.parse(entry));
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    });
  }

  get size(): number {
    return this.#ranges.length;
  }

  has(ip: string): boolean {
    if (!ipaddr.isValid(ip)) return false;
    const addr = unmap(ipaddr.parse(ip));
    return this.#ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
  }
}

function unmap(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

/** Recent answers of normalizeIp: a few peers send most requests, and parsing is the costly part. */
const normalized = new Map<string, string>();
const NORMALIZED_MAX = 4096;

/** Canonical text form (IPv4-mapped IPv6 becomes IPv4); unparseable input is returned as-is. */
export function normalizeIp(ip: string): string {
  const known = normalized.get(ip);
  if (known !== undefined) return known;
  const trimmed = ip.trim();
  const out = ipaddr.isValid(trimmed) ? unmap(ipaddr.parse(trimmed)).toString() : trimmed;
  if (normalized.size >= NORMALIZED_MAX) normalized.clear();
  normalized.set(ip, out);
  return out;
}

const MAX_HOPS = 32;

export function clientIp(remote: string | undefined, forwardedFor: string | undefined, trusted: IpRanges): string {
  let current = normalizeIp(remote ?? '');
  if (!forwardedFor || trusted.size === 0) return current;
  const hops = forwardedFor.split(',').slice(-MAX_HOPS);
  for (let i = hops.length - 1; i >= 0 && trusted.has(current); i--) {
    const hop = hops[i]!.trim();
    // A garbled hop stops the walk; an unparseable address matches no allow-list.
    if (!ipaddr.isValid(hop)) return hop || 'unknown';
    current = normalizeIp(hop);
  }
  return current;
}
