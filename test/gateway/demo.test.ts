import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runGatewayClient } from '../../examples/gateway-demo/client.ts';
import { startThirdParty } from '../../examples/gateway-demo/third-party.ts';
import { startTestHookah } from '../helpers/hookah.ts';

test('examples/gateway-demo: the client gets the fake third party’s callback back on its WebSocket', async () => {
  const h = await startTestHookah();
  const lines: string[] = [];
  const thirdParty = await startThirdParty(0, 10, (l) => lines.push(l));
  try {
    const callback = await runGatewayClient(`${h.url.replace('http', 'ws')}/gateway`, `${thirdParty.url}/jobs`, (l) => lines.push(l));
    const data = callback.data as { status: string; output: string };
    assert.equal(data.status, 'completed');
    assert.match(data.output, /cat\.png/);
    assert.ok(lines.some((l) => l.startsWith('[third party] accepted')));
  } finally {
    await thirdParty.close();
    await h.close();
  }
});
