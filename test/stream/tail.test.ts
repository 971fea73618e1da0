import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { waitFor } from '../helpers/wait.ts';
import { hook } from './util.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runTail(args: string[]): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'tail', ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const STARTUP_MS = 20_000; // tsx compiles the CLI on first start; the machine may be busy

describe('hookah tail', () => {
  let h: TestHookah;
  const running: Cli[] = [];
  before(async () => {
    h = await startTestHookah();
  });
  after(async () => {
    for (const cli of running) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await h.close();
  });

  test('replays --since, follows live, reconnects with resume, exits cleanly on SIGINT', async () => {
    const e0 = await hook(h.url, 'tail/a', '"zero"');
    const e1 = await hook(h.url, 'tail/a', '{"n":1}');
    const cli = runTail(['tail/+', '--server', h.url, '--since', e0, '--retry', '300ms']);
    running.push(cli);
    await waitFor(() => cli.stdout().includes(`#${e1}`), 'the replayed message', STARTUP_MS);
    await waitFor(() => cli.stderr().includes('following tail/+'), 'the connected note');
    const e2 = await hook(h.url, 'tail/b', 'plain text', 'text/plain');
    await waitFor(() => cli.stdout().includes(`#${e2}`), 'the live message');

    // Cut every connection; what is published meanwhile must arrive after the reconnect.
    h.server.closeAllConnections();
    const e3 = (await h.runtime.bus.publish({ topic: 'tail/a', headers: {}, contentType: 'application/json', body: Buffer.from('{"n":3}'), source: 'test' })).id;
    await waitFor(() => cli.stdout().includes(`#${e3}`), 'the message published while disconnected', 10_000);
    assert.match(cli.stderr(), new RegExp(`resuming after ${e2}`));

    const lines = cli.stdout().trim().split('\n');
    assert.equal(lines.length, 3, cli.stdout());
    assert.match(lines[0]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} tail/a #${e1} \\{"n":1\\}$`));
    assert.match(lines[1]!, new RegExp(` tail/b #${e2} plain text$`));
    assert.match(lines[2]!, new RegExp(` tail/a #${e3} \\{"n":3\\}$`));

    cli.child.kill('SIGINT');
    const { code } = await cli.exited;
    assert.equal(code, 0);
  });

  test('--json prints envelopes, one per line', async () => {
    const cli = runTail(['tail/json', '--server', h.url, '--json']);
    running.push(cli);
    await waitFor(() => cli.stderr().includes('following tail/json'), 'the connection', STARTUP_MS);
    const id = await hook(h.url, 'tail/json', '{"ok":true}');
    await waitFor(() => cli.stdout().includes('\n'), 'a line');
    const env = JSON.parse(cli.stdout().split('\n')[0]!) as { id: string; topic: string; data: unknown };
    assert.equal(env.id, id);
    assert.equal(env.topic, 'tail/json');
    assert.deepEqual(env.data, { ok: true });
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0);
  });

  test('a refused subscription exits 1 with the reason', async () => {
    const cli = runTail(['a/#/b', '--server', h.url]);
    running.push(cli);
    const { code } = await cli.exited;
    assert.equal(code, 1);
    assert.match(cli.stderr(), /400.*'#' is only allowed as the last segment/);
  });
});
