#!/usr/bin/env node
// Dispatch a webhook through Hookah with Node's built-in fetch (Node >= 18).
//
// Usage: HOOKAH_URL=http://127.0.0.1:8080 node dispatch.mjs DESTINATION [JSON] [--wait]
//
// Sends JSON (default {"hello":"world"}) to DESTINATION via POST /dispatch.
// Hookah answers 202 once the message is stored, then delivers it with retries.
// With --wait, polls the status URL until the message is delivered or failed.
import { randomUUID } from 'node:crypto';

const hookah = (process.env.HOOKAH_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const wait = process.argv.includes('--wait');
const [destination, json] = process.argv.slice(2).filter((a) => a !== '--wait');
if (!destination) {
  console.error('usage: node dispatch.mjs DESTINATION [JSON] [--wait]');
  process.exit(2);
}

const res = await fetch(`${hookah}/dispatch?${new URLSearchParams({ _url: destination })}`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    // Re-sending with the same key never delivers twice, so retrying this call is safe.
    'idempotency-key': randomUUID(),
  },
  body: json ?? JSON.stringify({ hello: 'world' }),
  signal: AbortSignal.timeout(10_000),
});
const accepted = await res.json();
if (res.status !== 202) {
  console.error(`hookah refused the message (${res.status}): ${accepted.error}`);
  process.exit(1);
}
console.log(JSON.stringify(accepted));

if (wait) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const message = await (await fetch(accepted.status_url, { signal: AbortSignal.timeout(10_000) })).json();
    if (message.status === 'delivered' || message.status === 'failed') {
      console.log(JSON.stringify({ id: message.id, status: message.status, attempts: message.attempt_count }));
      process.exit(message.status === 'delivered' ? 0 : 1);
    }
    if (Date.now() > deadline) {
      console.error(`still not delivered after 30 s: ${accepted.status_url}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
