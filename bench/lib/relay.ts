/**
 * The least any relay must do, as a second baseline for bench/dispatch: take
 * a POST, answer 202, and POST the body on to the sink with undici. No
 * storage, no retries, no parsing. Run as its own process, like Hookah:
 *
 *   node --import tsx bench/lib/relay.ts <sink url> <connections>
 *
 * It prints `listening <url>` once it accepts requests.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

const [target, connections] = process.argv.slice(2);
if (!target || !/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?\//.test(`${target}/`)) {
  process.stderr.write('usage: relay.ts <loopback sink url> <connections>\n');
  process.exit(2);
}
const agent = new Agent({ connections: Number(connections) || 50, keepAliveTimeout: 60_000 });
let failures = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(202).end();
    request(`${target}/relay`, { method: 'POST', body: Buffer.concat(chunks), headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' }, dispatcher: agent })
      .then((r) => r.body.dump())
      .catch(() => {
        if (failures++ === 0) process.stderr.write('relay: a forward failed\n');
      });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
