// The official TypeScript client's side of bench/initial_subscribe.py: time from subscribe()
// to onApplied for `SELECT * FROM message`, each sample on a fresh connection.
//
// Usage:
//   node --expose-gc src/bench_initial_subscribe.mjs --uri http://127.0.0.1:PORT \
//        --db quickstart-chat --compression none|gzip
//
// One sample per command, so the Python side can interleave the clients' samples:
//   stdin  {"cmd": "sample"}
//   stdout {"event": "sample", "ms": n, "digest": {rows, sent_sum, text_bytes}}
// The digest describes the cache after the sample (taken untimed); Python compares it with
// what the server holds. End of stdin exits.

import { createInterface } from 'node:readline';
import {
  connect,
  disconnect,
  messageDigest,
  msBetween,
  nowNs,
  parseOptions,
  subscribeApplied,
} from './bench_common.mjs';

const SQL = 'SELECT * FROM message';

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function sample(options) {
  // Start every sample from a collected heap, as the Python side does (untimed).
  globalThis.gc?.();
  const conn = await connect(options);
  const t0 = nowNs();
  const t1 = await subscribeApplied(conn, SQL);
  const ms = msBetween(t0, t1);
  const digest = messageDigest(conn);
  await disconnect(conn);
  return { ms, digest };
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    uri: 'http://127.0.0.1:3000',
    db: 'quickstart-chat',
    compression: 'gzip',
  });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd !== 'sample') {
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}; known: sample`);
    }
    const { ms, digest } = await sample(options);
    emit({ event: 'sample', ms, digest });
  }
  // undici may keep the event loop alive for a while after the last socket closes.
  process.exit(0);
}

main().catch(error => {
  emit({ event: 'error', error: String(error?.stack ?? error) });
  process.exit(1);
});
