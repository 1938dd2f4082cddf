// The official TypeScript client's side of bench/many_connections.py: many connections in one
// Node process, their memory per connection and how long a broadcast takes to reach them all.
//
// Usage:
//   node --expose-gc src/bench_many_connections.mjs --uri http://127.0.0.1:PORT \
//        --db quickstart-chat --compression none --count 1000 --batch 50
//
// Commands on stdin, events on stdout (JSON lines):
//   {"cmd": "connect"}  -> {"event": "connected", "heap": bytes, "rss": bytes, "count": n}
//       open `count` connections (`batch` at a time), each subscribed to every message and
//       counting its inserts; heap = growth of V8's used heap + ArrayBuffer memory, rss = growth
//       of the resident set, from before the first connection to after the last (after full
//       collections, so --expose-gc is needed)
//   {"cmd": "arm"}      -> {"event": "armed"}
//       the next message must reach every connection; Python then has the server commit it
//                        -> {"event": "delivered", "t_end_ns": "<decimal>", "inserts": n}
//       when the last connection's onInsert ran (process.hrtime, CLOCK_MONOTONIC)
//   {"cmd": "close"}    -> {"event": "closed"}
// End of stdin exits.

import { createInterface } from 'node:readline';
import {
  connect,
  disconnect,
  nowNs,
  parseOptions,
  settledMemory,
  subscribeApplied,
} from './bench_common.mjs';

const SQL = 'SELECT * FROM message';

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const conns = [];
let pending = 0;
let inserts = 0;
let delivered = null;

function onInsert() {
  inserts += 1;
  if (delivered !== null) {
    pending -= 1;
    if (pending === 0) {
      const done = delivered;
      delivered = null;
      done(nowNs());
    }
  }
}

async function openOne(options) {
  const conn = await connect(options);
  conn.db.message.onInsert(onInsert);
  await subscribeApplied(conn, SQL);
  return conn;
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    uri: 'http://127.0.0.1:3000',
    db: 'quickstart-chat',
    compression: 'none',
    count: 1000,
    batch: 50,
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'connect') {
      const before = await settledMemory();
      while (conns.length < options.count) {
        const n = Math.min(options.batch, options.count - conns.length);
        conns.push(...(await Promise.all(Array.from({ length: n }, () => openOne(options)))));
      }
      const after = await settledMemory();
      emit({
        event: 'connected',
        count: conns.length,
        heap: after.heap - before.heap,
        rss: after.rss - before.rss,
      });
    } else if (cmd.cmd === 'arm') {
      inserts = 0;
      pending = conns.length;
      const done = new Promise(resolve => {
        delivered = resolve;
      });
      emit({ event: 'armed' });
      const tEnd = await done;
      emit({ event: 'delivered', t_end_ns: tEnd.toString(), inserts });
    } else if (cmd.cmd === 'close') {
      await Promise.all(conns.map(conn => disconnect(conn)));
      conns.length = 0;
      emit({ event: 'closed' });
    } else {
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}; known: connect, arm, close`);
    }
  }
  process.exit(0);
}

main().catch(error => {
  emit({ event: 'error', error: String(error?.stack ?? error) });
  process.exit(1);
});
