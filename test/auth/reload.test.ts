import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { waitFor } from '../helpers/wait.ts';
import { basic, call, fastHash, startFromFile, type FileHookah } from './support.ts';

describe('config reload', () => {
  let h: FileHookah;
  let config: Record<string, any>;
  const alice = basic('alice', 'alice-pass');
  const bob = basic('bob', 'bob-pass');
  const publish = (topic: string, auth?: string) => call(h.url, `/dispatch?_topic=${topic}`, { method: 'POST', body: 'x', ...(auth ? { auth } : {}) });

  before(async () => {
    config = {
      auth: {
        users: [
          { name: 'alice', password: await fastHash('alice-pass'), publish: ['orders/#'], canReload: true },
          { name: 'carol', password: await fastHash('carol-pass'), publish: ['#'] },
        ],
      },
    };
    h = await startFromFile(config);
  });
  after(() => h.close());

  it('applies new users and permissions without a restart, keeping stored messages', async () => {
    assert.equal((await publish('orders/1', alice)).status, 202);
    assert.equal((await publish('orders/1', bob)).status, 401);
    config.auth.users[0].publish = ['billing/#'];
    config.auth.users.push({ name: 'bob', password: await fastHash('bob-pass'), publish: ['orders/#'] });
    h.write(config);
    assert.deepEqual(await h.running.reload('test'), { restartNeeded: [] });
    assert.equal((await publish('orders/2', alice)).status, 403, 'the cached login must not keep old permissions');
    assert.equal((await publish('billing/1', alice)).status, 202);
    assert.equal((await publish('orders/2', bob)).status, 202);
    assert.equal((await h.running.runtime.stores.events.read({ patterns: ['orders/#'], limit: 10 })).events.length, 2);
  });

  it('rejects a file that does not parse and keeps the running config', async () => {
    h.writeRaw('auth: [this is: not yaml');
    await assert.rejects(h.running.reload('test'), /cannot parse config file/);
    assert.equal((await publish('orders/3', bob)).status, 202);
  });

  it('rejects a schema error and keeps the running config', async () => {
    h.write({ ...config, auth: { ...config.auth, userz: [] } });
    await assert.rejects(h.running.reload('test'), /unknown key auth.userz/);
    assert.equal((await publish('orders/4', bob)).status, 202);
  });

  it('rejects a bad password hash or verifier reference as a whole, changing nothing', async () => {
    const broken = structuredClone(config);
    broken.auth.users = [{ name: 'bob', password: 'md5;;nope', publish: [] }];
    broken.auth.inbound = [{ pattern: 'x', verifier: 'missing' }];
    h.write(broken);
    await assert.rejects(h.running.reload('test'), (err: Error) => /password must be scrypt/.test(err.message) && /no verifier named "missing"/.test(err.message));
    assert.equal((await publish('orders/5', bob)).status, 202, 'bob keeps his permission');
  });

  it('reports sections that only a restart applies', async () => {
    h.write({ ...config, server: { maxBodyBytes: 1234 } });
    const result = await h.running.reload('test');
    assert.deepEqual(result.restartNeeded, ['server']);
    assert.notEqual(h.running.runtime.config.server.maxBodyBytes, 1234);
    h.write(config);
    await h.running.reload('test');
  });

  describe('POST /reload', () => {
    it('needs credentials, and canReload or admin', async () => {
      assert.equal((await call(h.url, '/reload', { method: 'POST' })).status, 401);
      const refused = await call(h.url, '/reload', { method: 'POST', auth: bob });
      assert.equal(refused.status, 403);
      assert.equal(refused.json().message, 'User does not have reload permissions');
      const ok = await call(h.url, '/reload', { method: 'POST', auth: alice });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.text, '');
    });

    it('answers 422 with the reason for a broken file, and the old config stays', async () => {
      h.writeRaw('queues: {list: [{name: "bad name!"}]}\n');
      const r = await call(h.url, '/reload', { method: 'POST', auth: alice });
      assert.equal(r.status, 422);
      assert.match(r.json().message, /queues\.list\.0\.name/);
      assert.match(r.json().message, /running configuration stays in force/);
      assert.equal((await publish('orders/6', bob)).status, 202);
      h.write(config);
    });
  });

  describe('POST /setPassword', () => {
    it('changes the caller\'s password in the file (as an scrypt hash) and in force', async () => {
      h.write(config);
      await h.running.reload('test');
      const short = await call(h.url, '/setPassword', { method: 'POST', auth: bob, body: JSON.stringify({ password: 'abc' }) });
      assert.equal(short.status, 400);
      assert.match(short.json().message, /at least 6 characters/);
      assert.equal((await call(h.url, '/setPassword', { method: 'POST', auth: bob, body: 'not json' })).status, 400);
      assert.equal((await call(h.url, '/setPassword', { method: 'POST', body: '{"password":"whatever"}' })).status, 401);

      const r = await call(h.url, '/setPassword', { method: 'POST', auth: bob, body: JSON.stringify({ password: 'bobs-new-password' }) });
      assert.equal(r.status, 200, r.text);
      const onDisk = YAML.parse(readFileSync(h.path, 'utf8'));
      const entry = onDisk.auth.users.find((u: { name: string }) => u.name === 'bob');
      assert.match(entry.password, /^scrypt\$32768\$8\$1\$/);
      assert.equal(onDisk.auth.users.find((u: { name: string }) => u.name === 'alice').password, config.auth.users[0].password, 'others untouched');
      assert.equal((await publish('orders/7', bob)).status, 401);
      assert.equal((await publish('orders/7', basic('bob', 'bobs-new-password'))).status, 202);
    });
  });
});

describe('reload of a server started open', () => {
  it('turns access control on when users appear', async () => {
    const h = await startFromFile({});
    try {
      assert.equal(h.running.runtime.auth.enabled, false);
      assert.equal((await call(h.url, '/metrics')).status, 200);
      h.write({ auth: { users: [{ name: 'root', password: await fastHash('root-pass'), admin: true }] } });
      await h.running.reload('test');
      assert.equal(h.running.runtime.auth.enabled, true);
      assert.equal((await call(h.url, '/metrics')).status, 401);
      assert.equal((await call(h.url, '/metrics', { auth: basic('root', 'root-pass') })).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe('SIGHUP on the hookah CLI', () => {
  it('reloads the file, and a broken file leaves the server running on the old one', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-sighup-'));
    const path = join(dir, 'hookah.yaml');
    const write = (queues: string[]) =>
      writeFileSync(path, YAML.stringify({ server: { port: 0 }, storage: { path: join(dir, 'db.sqlite') }, queues: { list: queues.map((name) => ({ name })) } }));
    write(['one']);
    const child = spawn(process.execPath, ['bin/hookah.js', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    try {
      const url = await waitFor(() => /"url":"(http:\/\/[^"]+)"[^\n]*hookah listening/.exec(out)?.[1], 'the server to listen', 30_000);
      const post = (q: string) => call(url, `/q/${q}`, { method: 'POST', body: 'x' });
      assert.equal((await post('one')).status, 200);
      assert.equal((await post('two')).status, 404);

      write(['one', 'two']);
      child.kill('SIGHUP');
      await waitFor(async () => (await post('two')).status === 200, 'queue two after SIGHUP', 10_000);

      writeFileSync(path, 'queues: [broken');
      child.kill('SIGHUP');
      await waitFor(() => out.includes('config reload rejected'), 'the rejection to be logged', 10_000);
      assert.equal((await post('two')).status, 200, 'the old config stays in force');
      assert.equal(child.exitCode, null);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
