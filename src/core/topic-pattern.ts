/**
 * Topic names are `/`-separated paths (e.g. `orders/created`). A subscription
 * may use MQTT-style wildcards: `+` matches exactly one segment, a trailing `#`
 * matches any number of remaining segments (including none), and `*` alone
 * matches every topic.
 */
export const MAX_TOPIC_LENGTH = 512;

const TOPIC_RE = /^[^\s#+*]+$/;

export function validateTopic(topic: string): string | undefined {
  if (!topic) return 'topic is empty';
  if (topic.length > MAX_TOPIC_LENGTH) return `topic is longer than ${MAX_TOPIC_LENGTH} characters`;
  if (!TOPIC_RE.test(topic)) return 'topic must not contain whitespace or the wildcard characters # + *';
  return undefined;
}

export function validatePattern(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  if (!pattern) return 'topic is empty';
  if (pattern.length > MAX_TOPIC_LENGTH) return `topic is longer than ${MAX_TOPIC_LENGTH} characters`;
  const parts = pattern.split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '+') continue;
    if (part === '#') {
      if (i !== parts.length - 1) return "'#' is only allowed as the last segment";
      continue;
    }
    if (/[\s#+*]/.test(part)) return `invalid segment '${part}': wildcards must fill a whole segment`;
  }
  return undefined;
}

export function isPattern(pattern: string): boolean {
  return pattern === '*' || pattern.split('/').some((p) => p === '+' || p === '#');
}

export function matchTopic(pattern: string, topic: string): boolean {
  if (pattern === '*' || pattern === topic) return true;
  if (!isPattern(pattern)) return false;
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= t.length) return false;
    if (p[i] !== '+' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
