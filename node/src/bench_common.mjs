// Helpers shared by the client benchmarks (bench/initial_subscribe.py, bench/tx_stream.py):
// opening and closing an official-client connection to the quickstart-chat database as
// promises, and the digest a client's `message` cache must match.
//
// Example:
//   const options = { uri: 'http://127.0.0.1:3000', db: 'quickstart-chat', compression: 'gzip' };
//   const conn = await connect(options);
//   const digest = messageDigest(conn);   // { rows, sent_sum, text_bytes }
//   await disconnect(conn);

import { setGlobalLogLevel } from 'spacetimedb';
import { DbConnection } from './chat_bindings.mjs';

// The SDK may log with console.log; stdout carries the JSON events.
console.log = console.info = console.debug = (...args) => console.error(...args);
setGlobalLogLevel('warn');

/** Monotonic nanoseconds (CLOCK_MONOTONIC on Linux, as Python's time.monotonic_ns). */
export const nowNs = () => process.hrtime.bigint();

/** Milliseconds between two nowNs() readings, as a number. */
export const msBetween = (t0, t1) => Number(t1 - t0) / 1e6;

// Resolves when a connection's socket has closed (set by connect()).
const closedOf = new WeakMap();

/**
 * A connected DbConnection (resolves at onConnect). `compression` is 'none' or 'gzip'; the
 * package's own socket (undici under Node 20) and decompression are used, untouched.
 */
export function connect({ uri, db, compression }) {
  return new Promise((resolve, reject) => {
    let connected = false;
    let closed;
    const closedPromise = new Promise(r => {
      closed = r;
    });
    const conn = DbConnection.builder()
      .withUri(uri)
      .withDatabaseName(db)
      .withCompression(compression)
      .onConnect(c => {
        connected = true;
        resolve(c);
      })
      .onConnectError((_ctx, error) => reject(error ?? new Error('connect failed')))
      .onDisconnect((_ctx, error) => {
        closed(error);
        if (!connected) reject(error ?? new Error('disconnected before connecting'));
      })
      .build();
    closedOf.set(conn, closedPromise);
  });
}

/** Disconnect and wait for the socket to close (bounded: 10 s). */
export async function disconnect(conn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('disconnect timed out after 10 s')), 10_000);
  });
  conn.disconnect();
  try {
    await Promise.race([closedOf.get(conn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Subscribe to `sql`; resolves with the onApplied time (nowNs) once the rows are applied. */
export function subscribeApplied(conn, sql) {
  return new Promise((resolve, reject) => {
    conn
      .subscriptionBuilder()
      .onApplied(() => resolve(nowNs()))
      .onError(ctx => reject(ctx.event ?? new Error(`subscription to ${sql} failed`)))
      .subscribe([sql]);
  });
}

/** What the cache holds: row count, sum of `sent` micros, UTF-8 bytes of all texts. */
export function messageDigest(conn) {
  let rows = 0;
  let sentSum = 0n;
  let textBytes = 0;
  for (const row of conn.db.message.iter()) {
    rows += 1;
    sentSum += row.sent.__timestamp_micros_since_unix_epoch__;
    textBytes += Buffer.byteLength(row.text, 'utf8');
  }
  return { rows, sent_sum: sentSum.toString(), text_bytes: textBytes };
}

/**
 * Memory after letting pending callbacks run and collecting all that can be (needs
 * --expose-gc): V8's used heap plus ArrayBuffer memory, and the resident set, in bytes.
 */
export async function settledMemory() {
  if (typeof globalThis.gc !== 'function') throw new Error('run node with --expose-gc');
  for (let i = 0; i < 3; i += 1) {
    await new Promise(resolve => setImmediate(resolve));
    globalThis.gc();
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

/** The command line as `--name value` pairs. */
export function parseOptions(argv, defaults) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in defaults) || i + 1 >= argv.length) {
      throw new Error(`bad option ${argv[i]}; known: ${Object.keys(defaults).join(', ')}`);
    }
    options[name] = typeof defaults[name] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return options;
}
