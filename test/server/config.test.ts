import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';
import { spawnHookah } from '../helpers/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hookah-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration', () => {
  it('has working defaults with no file', () => {
    const c = parseConfig(undefined);
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.address, '127.0.0.1');
    assert.equal(c.storage.driver, 'sqlite');
    assert.equal(c.storage.path, './hookah.db');
    assert.deepEqual(c.dispatcher.retrySchedule, [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    assert.equal(c.dispatcher.timeout, 15_000);
  });

  it('reads YAML and JSON files, and flags override the file', () => {
    const yaml = join(dir, 'c.yaml');
    writeFileSync(yaml, 'server:\n  port: 9000\ndispatcher:\n  timeout: 2s\n  retrySchedule: [0, 1s, 1m]\n');
    const c = loadConfig(yaml, { port: 9100 });
    assert.equal(c.server.port, 9100);
    assert.equal(c.dispatcher.timeout, 2000);
    assert.deepEqual(c.dispatcher.retrySchedule, [0, 1000, 60_000]);
    const json = join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ storage: { path: '/tmp/x.db' } }));
    assert.equal(loadConfig(json).storage.path, '/tmp/x.db');
    assert.equal(loadConfig(json, { store: 'sqlite:/tmp/y.db' }).storage.path, '/tmp/y.db');
  });

  it('names every bad key in the error', () => {
    assert.throws(
      () => parseConfig({ server: { prot: 1, port: 'x' }, dispatcher: { timeout: 'soon' }, bogus: {} }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /unknown key server\.prot/);
        assert.match(err.message, /server\.port/);
        assert.match(err.message, /dispatcher\.timeout: not a duration/);
        assert.match(err.message, /unknown key bogus/);
        return true;
      },
    );
  });

  it('refuses to start on an invalid file, with the reason on stderr and exit code 2', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'dispatcher:\n  concurency: 3\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), '--config', bad, '--port', '0'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown key dispatcher\.concurency/);
  });

  it('serves /healthz, takes env overrides and warns when exposed without authentication', async () => {
    const d = mkdtempSync(join(dir, 'run-'));
    const server = await spawnHookah({ dir: d, args: ['--address', '0.0.0.0'], env: { HOOKAH_LOG_LEVEL: 'debug' } });
    try {
      const res = await request(`${server.url}/healthz`);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(await res.body.json(), { status: 'ok', storage: 'sqlite' });
      assert.ok(server.logs.some((l) => l.level === 40 && /NO authentication/.test(String(l.msg))));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('prints help', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--port <port>/);
    assert.match(r.stdout, /--config <file>/);
  });
});
