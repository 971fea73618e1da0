import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/load.ts';

/** The deployment examples stay valid: their YAML parses and their Hookah config passes the schema. */
const dir = new URL('../../examples/deploy/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

describe('examples/deploy', () => {
  test('the compose file runs redis, three hookah nodes on it and a load balancer', () => {
    const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { environment?: Record<string, string>; command?: string[] }> };
    const names = Object.keys(compose.services).sort();
    assert.deepEqual(names, ['hookah1', 'hookah2', 'hookah3', 'lb', 'redis']);
    for (const n of ['hookah1', 'hookah2', 'hookah3']) assert.equal(compose.services[n]!.environment?.HOOKAH_STORE, 'redis://redis:6379');
    assert.ok(compose.services.redis!.command?.includes('--appendonly'), 'redis persists (AOF)');
    assert.match(read('nginx.conf'), /server hookah3:8080/);
  });

  test('the hookah config of the compose example is valid, with the redis store from the environment', () => {
    const config = parseConfig(YAML.parse(read('hookah.yaml')), { store: 'redis://redis:6379' });
    assert.equal(config.storage.driver, 'redis');
    assert.equal(config.storage.redisUrl, 'redis://redis:6379');
    assert.equal(config.server.publicUrl, 'http://localhost:8080');
  });

  test('the kubernetes manifest has a Deployment with replicas, Services, Redis, and a valid config', () => {
    const docs = YAML.parseAllDocuments(read('kubernetes.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: { replicas?: number }; data?: Record<string, string> });
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    for (const k of ['ConfigMap/hookah', 'StatefulSet/hookah-redis', 'Service/hookah-redis', 'Deployment/hookah', 'Service/hookah']) assert.ok(kinds.includes(k), k);
    assert.ok((docs.find((d) => d.kind === 'Deployment')!.spec!.replicas ?? 0) > 1);
    const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
    const config = parseConfig(YAML.parse(configMap.data!['hookah.yaml']!), { store: 'redis://hookah-redis:6379' });
    assert.equal(config.storage.driver, 'redis');
  });

  test('the Dockerfile builds the CLI and listens on all interfaces', () => {
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, /HOOKAH_ADDRESS=0\.0\.0\.0/);
    assert.match(dockerfile, /ENTRYPOINT \["node", "bin\/hookah\.js"\]/);
  });
});
