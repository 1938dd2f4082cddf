// The official TypeScript client's side of bench/cache_memory.py: how much memory its cache
// holds per `message` row once a subscription to the whole table is applied.
//
// Usage:
//   node --expose-gc src/bench_cache_memory.mjs --uri http://127.0.0.1:PORT --db quickstart-chat \
//        --compression none|gzip
//
// One sample per command, on a fresh connection:
//   stdin  {"cmd": "sample"}
//   stdout {"event": "applied"}       the rows are in the cache; Python now has the server
//                                      commit one more message (so the socket reads on past
//                                      the large frame, as it would in any live client)
//   stdout {"event": "sample", "rows": n, "heap": bytes, "rss": bytes, "digest": {...}}
// `heap` is the growth of V8's used heap plus ArrayBuffer memory (process.memoryUsage():
// heapUsed + arrayBuffers) from just before subscribing to just after that next message,
// each reading taken after full collections (`gc()`, so --expose-gc is needed). `rss` is the
// growth of the resident set over the same span. End of stdin exits.

import { createInterface } from 'node:readline';
import {
  connect,
  disconnect,
  messageDigest,
  parseOptions,
  settledMemory,
  subscribeApplied,
} from './bench_common.mjs';

const SQL = 'SELECT * FROM message';

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function sample(options) {
  const conn = await connect(options);
  let next;
  const nextInsert = new Promise(resolve => {
    next = resolve;
  });
  const before = await settledMemory();
  await subscribeApplied(conn, SQL);
  conn.db.message.onInsert(() => next());
  emit({ event: 'applied' });
  await nextInsert;
  const after = await settledMemory();
  const digest = messageDigest(conn);
  await disconnect(conn);
  return {
    rows: digest.rows,
    heap: after.heap - before.heap,
    rss: after.rss - before.rss,
    digest,
  };
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    uri: 'http://127.0.0.1:3000',
    db: 'quickstart-chat',
    compression: 'none',
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd !== 'sample') {
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}; known: sample`);
    }
    emit({ event: 'sample', ...(await sample(options)) });
  }
  process.exit(0);
}

main().catch(error => {
  emit({ event: 'error', error: String(error?.stack ?? error) });
  process.exit(1);
});
