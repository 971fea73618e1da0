import type { Action } from '../http/auth.ts';
import { isPattern } from '../core/topic-pattern.ts';

/**
 * Permission patterns per action, and whether they cover a requested
 * resource. The resource may itself be a subscription pattern (a stream of
 * `orders/#`), so this asks "is every topic the request could touch allowed",
 * not merely "do the two strings match".
 */

export interface PermissionSet {
  publish: string[];
  subscribe: string[];
  read: string[];
}

export const QUEUE_TOPIC_PREFIX = 'q/';

export function queueTopic(name: string): string {
  return `${QUEUE_TOPIC_PREFIX}${name}`;
}

export function compilePermissions(p: { publish: string[]; subscribe: string[]; read: string[]; queues: string[] }): PermissionSet {
  const queues = p.queues.map(queueTopic);
  return { publish: [...p.publish], subscribe: [...p.subscribe, ...queues], read: [...p.read, ...queues] };
}

export function isUrlResource(resource: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(resource);
}

/**
 * A URL (dispatch destination) is covered by the catch-all patterns or by a
 * pattern that is a URL prefix ending at a path boundary.
 */
function urlCovered(grant: string, url: string): boolean {
  if (grant === '*' || grant === '#') return true;
  if (!isUrlResource(grant)) return false;
  if (url === grant) return true;
  if (!url.startsWith(grant)) return false;
  return grant.endsWith('/') || '/?#'.includes(url[grant.length]!);
}

/** True when every topic matched by `requested` is matched by `grant`. */
export function patternCovers(grant: string, requested: string): boolean {
  if (grant === '*' || grant === '#') return true;
  if (requested === '*') return false;
  if (!isPattern(grant)) return grant === requested;
  const g = grant.split('/');
  const r = requested.split('/');
  for (let i = 0; i < g.length; i++) {
    if (g[i] === '#') return true;
    if (i >= r.length) return false;
    if (r[i] === '#') return false;
    if (g[i] === '+') continue;
    if (r[i] === '+' || g[i] !== r[i]) return false;
  }
  return g.length === r.length;
}

/**
 * `resource` undefined means the edge asks about the action in general (a
 * listing); any grant for that action is enough.
 */
export function permits(set: PermissionSet, action: Exclude<Action, 'admin'>, resource: string | undefined): boolean {
  const grants = set[action];
  if (resource === undefined) return grants.length > 0;
  if (isUrlResource(resource)) return grants.some((g) => urlCovered(g, resource));
  return grants.some((g) => patternCovers(g, resource));
}

export const NO_PERMISSIONS: PermissionSet = { publish: [], subscribe: [], read: [] };
