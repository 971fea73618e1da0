import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startTestHookah, type TestHookah } from '../helpers/hookah.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/wait.ts';

/** The client examples in examples/ run against a real Hookah and sink. */

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
let hookah: TestHookah;
let sink: Sink;

before(async () => {
  hookah = await startTestHookah();
  sink = await startSink();
});

after(async () => {
  await hookah?.close();
  await sink?.close();
});

const has = (cmd: string, ...args: string[]) => spawnSync(cmd, args.length ? args : ['--version'], { stdio: 'ignore' }).status === 0;

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: examples, env: { ...process.env, HOOKAH_URL: hookah.url }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function checkExample(cmd: string, args: (dest: string, json: string) => string[], path: string) {
  const json = JSON.stringify({ example: path, n: 1 });
  const { code, stdout, stderr } = await run(cmd, args(sink.url + path, json));
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
  const [acceptedLine, doneLine] = stdout.trim().split('\n');
  const accepted = JSON.parse(acceptedLine!) as { id: string; status_url: string };
  assert.match(accepted.status_url, /\/messages\//);
  assert.deepEqual(JSON.parse(doneLine!), { id: accepted.id, status: 'delivered', attempts: 1 });
  const arrived = await waitFor(() => sink.requests.find((r) => r.url === path), `delivery to ${path}`, 10_000);
  assert.equal(arrived.headers['content-type'], 'application/json');
  assert.equal(arrived.body.toString(), json);
}

test('examples/python/dispatch.py dispatches and waits for delivery', { skip: !has('python3') && 'python3 not installed' }, async () => {
  await checkExample('python3', (dest, json) => ['python/dispatch.py', dest, json, '--wait'], '/python');
});

test('examples/node/dispatch.mjs dispatches and waits for delivery', async () => {
  await checkExample(process.execPath, (dest, json) => ['node/dispatch.mjs', dest, json, '--wait'], '/node');
});

test('examples/go/dispatch.go dispatches and waits for delivery', { skip: !has('go', 'version') && 'go not installed' }, async () => {
  await checkExample('go', (dest, json) => ['run', 'go/dispatch.go', '-wait', dest, json], '/go');
});

test('examples/curl.sh dispatches three ways', { skip: !(has('curl') && has('sh', '-c', 'true')) && 'curl not installed' }, async () => {
  const { code, stderr } = await run('sh', ['curl.sh', `${sink.url}/curl`]);
  assert.equal(code, 0, stderr);
  const got = await waitFor(() => {
    const r = sink.requests.filter((x) => x.url === '/curl');
    return r.length >= 3 ? r : undefined;
  }, 'three deliveries from curl.sh', 10_000);
  const bodies = got.map((r) => r.body.toString()).sort();
  assert.deepEqual(bodies, ['event=signup&email=ada%40example.com', '{"order": 1001, "status": "created"}', '{"order": 1002}'].sort());
});
