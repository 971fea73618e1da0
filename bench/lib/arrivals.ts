import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One measured run: when each numbered message was sent and when it reached the sink. */
export class Phase {
  readonly sent: Float64Array;
  readonly arrived: Float64Array;
  count = 0;
  #done!: () => void;
  readonly done = new Promise<void>((resolve) => (this.#done = resolve));

  constructor(readonly size: number) {
    this.sent = new Float64Array(size);
    this.arrived = new Float64Array(size);
  }

  arrive(seq: number, at: number): void {
    if (!(seq >= 0 && seq < this.size) || this.arrived[seq] !== 0) return; // retries / duplicates count once
    this.arrived[seq] = at;
    if (++this.count === this.size) this.#done();
  }
}

export interface ArrivalSink {
  url: string;
  server: Server;
  /** The phase arrivals are recorded into from now on. */
  current: Phase | undefined;
}

/** A plain node server that answers 200 and timestamps each body's `"seq":N`. */
export async function startArrivalSink(): Promise<ArrivalSink> {
  const sink: ArrivalSink = { url: '', server: undefined as never, current: undefined };
  sink.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      sink.current?.arrive(Number(/"seq":(\d+)/.exec(Buffer.concat(chunks).toString())?.[1] ?? -1), at);
      res.end('ok');
    });
  });
  sink.server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => sink.server.listen(0, '127.0.0.1', r));
  sink.url = `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}`;
  return sink;
}
