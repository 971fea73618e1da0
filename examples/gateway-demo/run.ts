/**
 * The whole round trip in one process: a Hookah server (temporary database,
 * loopback allowed as a delivery destination), the fake third party and the
 * gateway client.
 *
 *   node --import tsx examples/gateway-demo/run.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { startHookah } from '../../src/server.ts';
import { runGatewayClient } from './client.ts';
import { startThirdParty } from './third-party.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookah-gateway-demo-'));
const hookah = await startHookah(
  parseConfig({
    server: { port: 0 },
    storage: { path: join(dir, 'hookah.db') },
    log: { level: 'warn' },
    // The third party runs on this machine; by default the dispatcher refuses private addresses.
    dispatcher: { allowNetworks: ['127.0.0.0/8'] },
  }),
);
const thirdParty = await startThirdParty(0, 500);
try {
  console.log(`[demo] hookah on ${hookah.url}, third party on ${thirdParty.url}`);
  const callback = await runGatewayClient(`${hookah.url.replace(/^http/, 'ws')}/gateway`, `${thirdParty.url}/jobs`);
  console.log(`[demo] the third party's answer came back on the same WebSocket: ${JSON.stringify(callback.data)}`);
} finally {
  await thirdParty.close();
  await hookah.close();
  rmSync(dir, { recursive: true, force: true });
}
