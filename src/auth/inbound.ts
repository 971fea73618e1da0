import type { Config } from '../config/schema.ts';
import { matchTopic } from '../core/topic-pattern.ts';
import type { VerifierConfig } from './config-schema.ts';
import { IpRanges } from './client-ip.ts';
import { queueTopic } from './permissions.ts';
import { buildVerifier, type Verifier } from './verifiers/index.ts';

/**
 * What protects ingress to a topic or queue: a signature verifier, a source
 * allow-list, and whether anonymous senders may publish (the signature or
 * address then being the credential). Queues come first, then
 * `auth.inbound` in order; the first rule whose pattern matches applies.
 */
export interface InboundRule {
  pattern: string;
  /** Where it came from, for messages: `queue foo` or `auth.inbound[2]`. */
  origin: string;
  verifier?: Verifier;
  allow?: IpRanges;
  public: boolean;
}

export class InboundRules {
  readonly #rules: InboundRule[];

  constructor(rules: InboundRule[]) {
    this.#rules = rules;
  }

  match(target: string): InboundRule | undefined {
    return this.#rules.find((r) => matchTopic(r.pattern, target));
  }

  get all(): readonly InboundRule[] {
    return this.#rules;
  }
}

export function compileInbound(config: Config, env: NodeJS.ProcessEnv = process.env): InboundRules {
  const named = new Map<string, Verifier>();
  for (const [name, v] of Object.entries(config.auth.verifiers)) named.set(name, wrap(`auth.verifiers.${name}`, () => buildVerifier(v, env)));
  const resolve = (origin: string, ref: string | VerifierConfig | undefined): Verifier | undefined => {
    if (ref === undefined) return undefined;
    if (typeof ref !== 'string') return wrap(origin, () => buildVerifier(ref, env));
    const found = named.get(ref);
    if (!found) throw new Error(`${origin}: no verifier named ${JSON.stringify(ref)} in auth.verifiers`);
    return found;
  };
  const rules: InboundRule[] = [];
  for (const q of config.queues.list) {
    const origin = `queue ${q.name}`;
    const verifier = resolve(origin, q.verifier);
    rules.push({
      pattern: queueTopic(q.name),
      origin,
      public: q.public,
      ...(verifier ? { verifier } : {}),
      ...(q.allowIps?.length ? { allow: new IpRanges(q.allowIps) } : {}),
    });
  }
  for (const [i, r] of config.auth.inbound.entries()) {
    const origin = `auth.inbound[${i}]`;
    const verifier = resolve(origin, r.verifier);
    rules.push({
      pattern: r.pattern,
      origin,
      public: r.public,
      ...(verifier ? { verifier } : {}),
      ...(r.allowIps?.length ? { allow: new IpRanges(r.allowIps) } : {}),
    });
  }
  return new InboundRules(rules);
}

function wrap<T>(origin: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw new Error(`${origin}: ${(err as Error).message}`);
  }
}
