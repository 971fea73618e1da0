import type { Command } from 'commander';
import { TunnelClient, TunnelClientError, formatForward, type TunnelClientOptions } from '../edges/tunnel/tunnel-client.ts';

interface ClientFlags {
  serverUrl?: string;
  targetUrl: string;
  channel?: string;
  token?: string;
  authToken?: string;
}

export function addClientCommand(program: Command): Command {
  return program
    .command('client')
    .description('tunnel webhooks sent to a Hookah server to a local target (e.g. http://localhost:3000)')
    .option('--server-url <url>', 'the Hookah server (env HOOKAH_SERVER_URL)')
    .option('--target-url <url>', 'where requests are replayed; its path is a prefix', 'http://localhost:3000')
    .option('--channel <id>', 'reuse this channel (with --token); default: ask the server for a new one')
    .option('--token <token>', 'the channel token printed when the channel was issued (env HOOKAH_CHANNEL_TOKEN)')
    .option('--auth-token <token>', "the server's access token, when it has access control (env HOOKAH_AUTH_TOKEN)")
    .action(async (flags: ClientFlags) => {
      await runClientCommand(flags);
    });
}

const stamp = () => new Date().toISOString();

/** `hookah client`: prints the webhook URL, then one line per forwarded request, until SIGINT/SIGTERM. */
export async function runClientCommand(flags: ClientFlags): Promise<TunnelClient> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const serverUrl = flags.serverUrl ?? process.env.HOOKAH_SERVER_URL;
  if (!serverUrl) fail('--server-url is required (or set HOOKAH_SERVER_URL)');
  const options: TunnelClientOptions = { serverUrl, targetUrl: flags.targetUrl };
  if (flags.channel !== undefined) options.channel = flags.channel;
  // The environment's token only counts with --channel; a lone --token is an error start() reports.
  const token = flags.token ?? (flags.channel !== undefined ? process.env.HOOKAH_CHANNEL_TOKEN : undefined);
  if (token !== undefined) options.token = token;
  const authToken = flags.authToken ?? process.env.HOOKAH_AUTH_TOKEN;
  if (authToken) options.authToken = authToken;

  let client: TunnelClient;
  try {
    client = await TunnelClient.start(options);
  } catch (err) {
    if (err instanceof TunnelClientError) fail(err.message);
    throw err;
  }
  const { info } = client;
  if (info.issued) {
    print(`Issued channel ${info.channel}`);
    print(`Reuse it later with: --channel ${info.channel} --token ${info.token}`);
  } else print(`Using channel ${info.channel}`);
  print(`Webhook URL: ${info.webhookUrl}`);
  print(`Forwarding to ${flags.targetUrl}`);

  client.on('connected', (hello) => print(`${stamp()} tunnel connected (${hello.mode} mode, keepalive ${hello.keepalive_ms} ms)`));
  client.on('disconnected', (d) => print(`${stamp()} tunnel disconnected (${d.reason}); reconnecting in ${d.retryInMs} ms`));
  client.on('forwarded', (r) => print(`${stamp()} ${formatForward(r)}`));
  client.on('warning', (w) => print(`${stamp()} warning: ${w}`));
  client.on('fatal', (err) => {
    process.stderr.write(`hookah client: ${err.message}\n`);
    process.exit(1);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void client.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return client;
}

function fail(message: string): never {
  process.stderr.write(`hookah client: ${message}\n`);
  process.exit(2);
}
