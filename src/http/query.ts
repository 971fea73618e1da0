import { badRequest } from './errors.ts';

/**
 * A `?limit=` parameter of an admin listing: absent gives `fallback`;
 * anything but one whole number from 1 to `max` is a 400 naming the range.
 */
export function limitParam(raw: string | string[] | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw badRequest(`limit must be a whole number from 1 to ${max}`);
  return n;
}
