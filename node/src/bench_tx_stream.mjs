// The official TypeScript client's side of bench/tx_stream.py: a subscriber whose onInsert
// counts rows; the time of the N-th insert is reported, and Python subtracts the moment the
// driver began committing (both read CLOCK_MONOTONIC: process.hrtime and time.monotonic_ns).
//
// Usage:
//   node --expose-gc src/bench_tx_stream.mjs --uri http://127.0.0.1:PORT --db quickstart-chat \
//        --compression none|gzip --count 10000
//
// Per sample, on a fresh connection (one sample per command, so Python can interleave the
// clients' samples):
//   stdin  {"cmd": "sample"}                  connect, subscribe, count inserts
//   stdout {"event": "ready"}                 subscribed to an empty `message` table
//   stdout {"event": "done", "t_end_ns": "<decimal>", "cpu_us": n, "inserts": n, "digest": {...}}
//                                             the count-th onInsert ran (cpu_us: this process's
//                                             CPU time from "ready" to then); digest taken after
// End of stdin exits.

import { createInterface } from 'node:readline';
import {
  connect,
  disconnect,
  messageDigest,
  nowNs,
  parseOptions,
  subscribeApplied,
} from './bench_common.mjs';

const SQL = 'SELECT * FROM message';

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function sample(options) {
  globalThis.gc?.();
  const conn = await connect(options);
  let inserts = 0;
  let resolveDone;
  const done = new Promise(resolve => {
    resolveDone = resolve;
  });
  conn.db.message.onInsert(() => {
    inserts += 1;
    if (inserts === options.count) resolveDone(nowNs());
  });
  await subscribeApplied(conn, SQL);
  if (inserts !== 0) throw new Error(`the table was not empty: ${inserts} rows at subscribe`);
  const cpu = process.cpuUsage();
  emit({ event: 'ready' });
  const tEnd = await done;
  const used = process.cpuUsage(cpu);
  emit({
    event: 'done',
    t_end_ns: tEnd.toString(),
    cpu_us: used.user + used.system,
    inserts,
    digest: messageDigest(conn),
  });
  await disconnect(conn);
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    uri: 'http://127.0.0.1:3000',
    db: 'quickstart-chat',
    compression: 'gzip',
    count: 10000,
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line);
    if (cmd.cmd !== 'sample') {
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}; known: sample`);
    }
    await sample(options);
  }
  process.exit(0);
}

main().catch(error => {
  emit({ event: 'error', error: String(error?.stack ?? error) });
  process.exit(1);
});
