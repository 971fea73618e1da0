/**
 * A gateway client: connects to Hookah's `/gateway` WebSocket, dispatches a
 * job to the third party and prints everything Hookah sends back, until the
 * third party's callback has arrived.
 *
 *   node --import tsx examples/gateway-demo/client.ts ws://127.0.0.1:8080/gateway http://127.0.0.1:8888/jobs
 */
import { WebSocket } from 'ws';

export async function runGatewayClient(gatewayUrl: string, jobUrl: string, log: (line: string) => void = console.log): Promise<Record<string, unknown>> {
  const ws = new WebSocket(gatewayUrl);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no callback within 30 s'));
    }, 30_000);
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      log(`[client] <- ${JSON.stringify(message)}`);
      if (message.type === 'session') {
        const action = { action: 'dispatch', id: 'demo-1', url: jobUrl, data: { image: 'cat.png', size: '64x64' } };
        log(`[client] -> ${JSON.stringify(action)}`);
        ws.send(JSON.stringify(action));
      } else if (message.type === 'callback') {
        clearTimeout(timer);
        ws.close();
        resolve(message);
      }
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [gateway = 'ws://127.0.0.1:8080/gateway', job = 'http://127.0.0.1:8888/jobs'] = process.argv.slice(2);
  await runGatewayClient(gateway, job);
}
