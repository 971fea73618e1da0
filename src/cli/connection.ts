import type { Command } from 'commander';

/** How the client commands (send, status) reach a server and prove who they are. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  /** The name `hookah tail` and `hookah client` use for the same thing. */
  authToken?: string;
  user?: string;
}

export interface Connection {
  /** Without a trailing slash. */
  base: string;
  headers: Record<string, string>;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('-s, --server <url>', `the Hookah server (env HOOKAH_SERVER_URL; default ${DEFAULT_SERVER})`)
    .option('--token <token>', 'API token, sent as Authorization: Bearer (env HOOKAH_TOKEN, or HOOKAH_AUTH_TOKEN)')
    .option('--auth-token <token>', 'same as --token (the name hookah tail and hookah client use)')
    .option('-u, --user <name:password>', 'user name and password, sent as Basic credentials (env HOOKAH_USER)');
}

export class UsageError extends Error {}

export function connection(flags: ConnectionFlags): Connection {
  const raw = flags.server ?? process.env.HOOKAH_SERVER_URL ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--server must be a URL such as ${DEFAULT_SERVER}, got ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http:// or https:// URL, got ${raw}`);
  const headers: Record<string, string> = {};
  if (flags.token && flags.authToken && flags.token !== flags.authToken) throw new UsageError('--token and --auth-token disagree; give one');
  let token = flags.token ?? flags.authToken;
  let user = flags.user;
  if (token && user) throw new UsageError('give either --token or --user, not both');
  // The environment only fills in when no credential was given on the command line.
  if (!token && !user) {
    token = process.env.HOOKAH_TOKEN || process.env.HOOKAH_AUTH_TOKEN || undefined;
    if (!token) user = process.env.HOOKAH_USER || undefined;
  }
  if (token) headers.authorization = `Bearer ${token}`;
  if (user) {
    if (!user.includes(':')) throw new UsageError('--user must be name:password');
    headers.authorization = `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
  }
  return { base: url.href.replace(/\/+$/, ''), headers };
}

/** The `{"error": …}` reason of an error response, or its text. */
export async function errorReason(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    return body.error ?? body.message ?? text;
  } catch {
    return text.trim() || res.statusText;
  }
}

/** Adds what a 401/403 usually means for a CLI user. */
export function explainStatus(status: number, reason: string): string {
  if (status === 401) return `${reason} (the server has access control: pass --token or --user)`;
  if (status === 403) return `${reason} (the credentials lack the permission)`;
  return reason;
}
