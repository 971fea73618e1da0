import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

/**
 * Server-side request forgery guard. Only globally routable unicast addresses
 * are reachable unless a CIDR in the allow-list says otherwise. The check runs
 * on the address actually connected to (inside the socket's DNS lookup), so a
 * name that resolves differently at connect time than at ingest (DNS
 * rebinding) is still caught.
 */

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  readonly code = 'EHOOKAHBLOCKED';
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const parsedAllowLists = new WeakMap<string[], Cidr[]>();

/** Parsed once per allow-list array (config arrays live as long as the server). */
function parseAllow(allow: string[]): Cidr[] {
  let cidrs = parsedAllowLists.get(allow);
  if (!cidrs) parsedAllowLists.set(allow, (cidrs = allow.map((c) => ipaddr.parseCIDR(c))));
  return cidrs;
}

/** Why `address` may not be connected to, or undefined when it may. */
export function blockedReason(address: string, allow: Cidr[]): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const addr = ipaddr.process(address);
  for (const [net, bits] of allow) {
    if (net.kind() === addr.kind() && addr.match(net, bits)) return undefined;
  }
  const range = addr.range();
  if (range === 'unicast') return undefined;
  return `${address} is a ${range} address; only public addresses are allowed (see dispatcher.allowNetworks)`;
}

/**
 * Ingest-time check of a destination URL: scheme, and literal IP hosts (which
 * never go through DNS). Returns a reason when refused.
 */
export function checkDestination(url: URL, allow: string[]): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http and https destinations are supported, got ${url.protocol}`;
  if (url.username || url.password) return 'credentials in the destination URL are not supported; use a header';
  // The same few hosts are checked on every ingest and every attempt.
  let cache = hostVerdicts.get(allow);
  if (!cache) hostVerdicts.set(allow, (cache = new Map()));
  const known = cache.get(url.hostname);
  if (known !== undefined) return known || undefined;
  const verdict = checkHost(url.hostname.replace(/^\[|\]$/g, ''), parseAllow(allow));
  if (cache.size >= 1024) cache.clear();
  cache.set(url.hostname, verdict ?? '');
  return verdict;
}

const hostVerdicts = new WeakMap<string[], Map<string, string>>();

function checkHost(host: string, cidrs: Cidr[]): string | undefined {
  if (ipaddr.isValid(host)) return blockedReason(host, cidrs);
  host = host.replace(/\.$/, '').toLowerCase(); // `localhost.` is the same name, fully qualified
  if (host === 'localhost' || host.endsWith('.localhost')) return blockedReason('127.0.0.1', cidrs);
  return undefined;
}

export function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export function guardedLookup(allow: string[]) {
  const cidrs = parseAllow(allow);
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const allowed = addresses.filter((a) => blockedReason(a.address, cidrs) === undefined);
      if (allowed.length === 0) {
        const reason = blockedReason(addresses[0]?.address ?? hostname, cidrs) ?? 'no address';
        return callback(new BlockedAddressError(`refused to connect to ${hostname}: ${reason}`), '');
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

export interface GuardedAgentOptions {
  connections?: number;
  connectTimeoutMs?: number;
}

/** An undici Agent that refuses non-global addresses at connect time. */
export function createGuardedAgent(allow: string[], options: GuardedAgentOptions = {}): Agent {
  const lookup = guardedLookup(allow);
  return new Agent({
    connections: options.connections ?? null,
    keepAliveTimeout: 10_000,
    connect: { lookup: lookup as never, timeout: options.connectTimeoutMs ?? 10_000 },
  });
}
