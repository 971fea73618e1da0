import type { Command } from 'commander';
import { DEFAULT_SCRYPT, hashPassword } from './password.ts';
import { generateToken, tokenDigest } from './tokens.ts';

/**
 * `hookah hash-password`: prints the value for `auth.users[].password`.
 * The password comes from stdin when piped, else from a prompt that does not
 * echo, never from the command line (it would land in shell history and `ps`).
 * `--token` instead generates an API token and its `sha256:` config form.
 */
export function addHashPasswordCommand(program: Command): void {
  program
    .command('hash-password')
    .description('print an scrypt hash for auth.users[].password (password from stdin or a prompt); --token makes an API token')
    .option('--cost <log2N>', `scrypt cost as log2(N), 14-20 (default ${Math.log2(DEFAULT_SCRYPT.N)})`)
    .option('--token', 'generate a random API token and print it with its sha256: form for auth.users[].tokens')
    .action(async (flags: { cost?: string; token?: boolean }) => {
      if (flags.token) {
        const token = generateToken();
        process.stdout.write(`token:  ${token}\nconfig: sha256:${tokenDigest(token)}\n`);
        return;
      }
      let N = DEFAULT_SCRYPT.N;
      if (flags.cost !== undefined) {
        const cost = Number(flags.cost);
        if (!Number.isInteger(cost) || cost < 14 || cost > 20) fail(`--cost must be an integer 14-20, got ${flags.cost}`);
        N = 2 ** cost;
      }
      const password = process.stdin.isTTY ? await promptTwice() : await readStdin();
      if (password.length === 0) fail('the password is empty');
      process.stdout.write(`${await hashPassword(password, { ...DEFAULT_SCRYPT, N })}\n`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) fail('the password on stdin is longer than 64 KiB');
    chunks.push(chunk as Buffer);
  }
  // A trailing newline from `echo` or a file is not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function promptTwice(): Promise<string> {
  const first = await prompt('Password: ');
  const second = await prompt('Again: ');
  if (first !== second) fail('the passwords do not match');
  return first;
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function fail(message: string): never {
  process.stderr.write(`hookah: ${message}\n`);
  process.exit(2);
}
