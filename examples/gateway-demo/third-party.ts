/**
 * A fake third-party service, like a payment or rendering API: it accepts a
 * job at once (202) and reports the result later by POSTing to the callback
 * URL Hookah put in the request (header X-Hookah-Callback-Url, and the
 * `callback_url` field of a JSON body).
 *
 *   node --import tsx examples/gateway-demo/third-party.ts [port]
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ThirdParty {
  url: string;
  close(): Promise<void>;
}

export async function startThirdParty(port = 0, delayMs = 1000, log: (line: string) => void = console.log): Promise<ThirdParty> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const callbackUrl = req.headers['x-hookah-callback-url'];
      if (req.method !== 'POST' || typeof callbackUrl !== 'string') {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"POST a job with X-Hookah-Callback-Url"}');
        return;
      }
      let job: unknown;
      try {
        job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        job = Buffer.concat(chunks).toString('utf8');
      }
      const ticket = `job-${Math.random().toString(36).slice(2, 8)}`;
      log(`[third party] accepted ${ticket}: ${JSON.stringify(job)}; will call back ${callbackUrl} in ${delayMs} ms`);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ ticket }));
      setTimeout(() => {
        const result = { ticket, status: 'completed', output: `processed ${JSON.stringify(job)}` };
        fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) })
          .then((r) => log(`[third party] callback for ${ticket} answered ${r.status}`))
          .catch((err: Error) => log(`[third party] callback for ${ticket} failed: ${err.message}`));
      }, delayMs).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const service = await startThirdParty(Number(process.argv[2] ?? 8888));
  console.log(`[third party] listening on ${service.url}/jobs`);
}
