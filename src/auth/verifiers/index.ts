import type { VerifierConfig } from '../config-schema.ts';
import { githubVerifier } from './github.ts';
import { hmacVerifier } from './hmac.ts';
import { shopifyVerifier } from './shopify.ts';
import { slackVerifier } from './slack.ts';
import { standardWebhooksVerifier } from './standard-webhooks.ts';
import { stripeVerifier } from './stripe.ts';
import { tokenVerifier } from './token.ts';
import type { HmacAlgorithm, Verifier } from './types.ts';

export type { SignedRequest, Verifier, VerifyResult } from './types.ts';

/** Builds a verifier from its config; throws with a readable reason when a secret is missing. */
export function buildVerifier(config: VerifierConfig, env: NodeJS.ProcessEnv = process.env): Verifier {
  const secrets = resolveSecrets(config, env);
  switch (config.type) {
    case 'hmac-sha1':
    case 'hmac-sha256':
    case 'hmac-sha384':
    case 'hmac-sha512':
      return hmacVerifier({
        algorithm: config.type.slice('hmac-'.length) as HmacAlgorithm,
        header: config.header,
        encoding: config.encoding,
        prefix: config.prefix,
        secrets,
      });
    case 'github':
      return githubVerifier(secrets);
    case 'stripe':
      return stripeVerifier(secrets, config.tolerance);
    case 'shopify':
      return shopifyVerifier(secrets);
    case 'slack':
      return slackVerifier(secrets, config.tolerance);
    case 'standard-webhooks':
      return standardWebhooksVerifier(secrets, config.tolerance);
    case 'token':
      return tokenVerifier(config.header, secrets);
  }
}

function resolveSecrets(config: VerifierConfig, env: NodeJS.ProcessEnv): string[] {
  if (config.secretEnv !== undefined) {
    const value = env[config.secretEnv];
    if (!value) throw new Error(`environment variable ${config.secretEnv} (the ${config.type} secret) is not set`);
    return [value];
  }
  const s = config.secret;
  return typeof s === 'string' ? [s] : [...(s ?? [])];
}
