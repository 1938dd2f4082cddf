// The Node side of the local server's TypeScript module host.
//
// Run as `node --enable-source-maps host.mjs IN_FD OUT_FD BUNDLE`.  It implements the virtual
// modules `spacetime:sys@2.0` and `@2.1` that a module bundle imports (the bundle reaches them
// through `globalThis[Symbol.for('spacetimedb-py.sys')]`, see build.mjs), loads the bundle,
// describes it, and then serves calls from the Python host one at a time.
//
// Everything is synchronous, as in SpacetimeDB's V8 host: a call frame arrives, the module's hook
// runs, and every syscall that needs the datastore (which lives in Python) is one frame out and
// one reply frame back, read with a blocking `fs.readSync`.  The event loop never turns while the
// host runs, so no timer, promise job or FinalizationRegistry callback runs between or inside
// calls.  Scans come back whole (the rows and their lengths), so `row_iter_bsatn_advance` and
// `row_iter_bsatn_close` are answered here; so are `table_id_from_name`, `index_id_from_name`,
// `identity` and the console timers.  Logs and `volatile_nonatomic_schedule_immediate` are
// one-way frames.
//
// Frames, both ways: u32 length (LE, counting what follows), u8 kind, payload.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { installPolyfills } from './polyfills.mjs';

const IN_FD = Number(process.argv[2]);
const OUT_FD = Number(process.argv[3]);
const BUNDLE = process.argv[4];

// Python -> Node
const K_CONFIG = 1;
const K_CALL_REDUCER = 2;
const K_CALL_VIEW = 3;
const K_CALL_VIEW_ANON = 4;
const K_CALL_PROCEDURE = 5;
const K_REPLY = 6;
const K_EXIT = 7;
// Node -> Python
const K_READY = 10;
const K_LOAD_FAILED = 11;
const K_SYSCALL = 12;
const K_LOG = 13;
const K_RESULT = 14;
const K_SCHEDULE = 15;

// Syscalls answered by Python.
const S_ROW_COUNT = 1;
const S_TABLE_SCAN = 2;
const S_SCAN_POINT = 3;
const S_SCAN_RANGE = 4;
const S_INSERT = 5;
const S_UPDATE = 6;
const S_DELETE_POINT = 7;
const S_DELETE_RANGE = 8;
const S_DELETE_BY_EQ = 9;
const S_CLEAR = 10;
const S_JWT = 11;
const S_START_TX = 12;
const S_COMMIT_TX = 13;
const S_ABORT_TX = 14;
const S_HTTP = 15;

// Result statuses.
const R_OK = 0;
const R_SENDER_ERROR = 1;
const R_ERROR = 2;
const R_TRAP = 3;

// Upstream's errno texts (crates/primitives/src/errno.rs).
const ERRNO_TEXT = {
  1: 'ABI called by host returned an error',
  2: 'ABI call can only be made while in a transaction',
  3: "Couldn't decode the BSATN to the expected type",
  4: 'No such table',
  5: 'No such index',
  6: 'The provided row iterator is not valid',
  7: 'The provided console timer does not exist',
  8: 'The provided bytes source or sink is not valid',
  9: 'The provided sink has no more space left',
  10: 'The Index does not support range scans',
  11: 'The provided buffer is not large enough to store the data',
  12: 'Value with given unique identifier already exists',
  13: 'Specified delay in scheduling row was too long',
  14: 'The index was not unique',
  15: 'The row was not found, e.g., in an update call',
  16: 'The auto-increment sequence overflowed',
  17: 'Attempted async or blocking op while holding open a transaction',
  18: 'Not in an anonymous transaction. Called by a reducer?',
  19: 'ABI call can only be made while within a mutable transaction',
  20: 'ABI call can only be made while within a read-only transaction',
  21: 'The HTTP request failed',
};

// ---- frames ---------------------------------------------------------------------------------

let inBuf = Buffer.allocUnsafe(1 << 16);
let inStart = 0;
let inEnd = 0;

function fill(need) {
  // Make room for `need` unread bytes, then read until they are there.
  if (inEnd - inStart + need > inBuf.length || inStart + need > inBuf.length) {
    const unread = inEnd - inStart;
    const size = Math.max(inBuf.length, unread + need);
    const next = size > inBuf.length ? Buffer.allocUnsafe(size * 2) : inBuf;
    inBuf.copy(next, 0, inStart, inEnd);
    inBuf = next;
    inStart = 0;
    inEnd = unread;
  }
  while (inEnd - inStart < need) {
    let n;
    try {
      n = fs.readSync(IN_FD, inBuf, inEnd, inBuf.length - inEnd, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) process.exit(0); // the Python host went away
    inEnd += n;
  }
}

/** The next frame: [kind, payload view (valid until the next read)]. */
function readFrame() {
  if (inEnd - inStart < 4) fill(4);
  const len = inBuf.readUInt32LE(inStart);
  if (inEnd - inStart < 4 + len) fill(4 + len);
  const kind = inBuf[inStart + 4];
  const payload = inBuf.subarray(inStart + 5, inStart + 4 + len);
  inStart += 4 + len;
  if (inStart === inEnd) inStart = inEnd = 0;
  return [kind, payload];
}

/** A frame under construction: `w.u8(..)`, `w.bytes(..)`, then `w.send()`. */
class Writer {
  constructor() {
    this.buf = Buffer.allocUnsafe(1 << 16);
    this.pos = 0;
  }
  start(kind) {
    this.pos = 4;
    this.buf[this.pos++] = kind;
    return this;
  }
  room(n) {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }
  u8(v) {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }
  u16(v) {
    this.room(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }
  u32(v) {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  uint(v, bytes) {
    // An unsigned BigInt of `bytes` bytes, little-endian.
    this.room(bytes);
    let x = BigInt.asUintN(bytes * 8, v);
    for (let i = 0; i < bytes; i += 8) {
      this.buf.writeBigUInt64LE(x & 0xffffffffffffffffn, this.pos + i);
      x >>= 64n;
    }
    this.pos += bytes;
    return this;
  }
  bytes(u8) {
    this.room(u8.length);
    this.buf.set(u8, this.pos);
    this.pos += u8.length;
    return this;
  }
  str(s) {
    const n = Buffer.byteLength(s);
    this.room(n);
    this.buf.write(s, this.pos);
    this.pos += n;
    return this;
  }
  send() {
    this.buf.writeUInt32LE(this.pos - 4, 0);
    let off = 0;
    while (off < this.pos) {
      try {
        off += fs.writeSync(OUT_FD, this.buf, off, this.pos - off);
      } catch (e) {
        if (e.code === 'EAGAIN') continue;
        if (e.code === 'EPIPE') process.exit(0);
        throw e;
      }
    }
  }
}

const out = new Writer();

function readUint(view, off, bytes) {
  let v = 0n;
  for (let i = bytes - 8; i >= 0; i -= 8) v = (v << 64n) | view.readBigUInt64LE(off + i);
  return v;
}

// ---- the state of the current call ----------------------------------------------------------

let hooks = null;
let tables = new Map(); // table name (source or canonical) -> id
let indexes = new Map(); // index name (source or canonical) -> id
let databaseIdentity = 0n;
let inCall = false;
let trap = null; // set when the Python host ends the call (an unrecoverable host error)

const iters = new Map(); // id -> {data, lens, i, off}
let nextIter = 1; // ids are never reused: a late close of a retired id is a no-op
const timers = new Map();
let nextTimer = 1;

function hostError(code, message) {
  const text = message ?? ERRNO_TEXT[code] ?? 'Unknown error';
  const Cls = hooks ? hooks.__get_error_constructor__(code) : Error;
  return new Cls(text);
}

function needEnv() {
  if (!inCall) throw hostError(1, 'cannot call this function during module initialization');
}

function typeName(v) {
  if (v === null) return 'null';
  if (v instanceof ArrayBuffer) return 'ArrayBuffer';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

function uint(v, what, max) {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TypeError(`Expected number for \`${what}\`, got ${typeName(v)}`);
  }
  if (v < 0) throw new TypeError(`Value underflowed \`${what}\``);
  if (v > max) throw new TypeError(`Value overflowed \`${what}\``);
  return v;
}
const u32 = v => uint(v, 'u32', 0xffffffff);
const u16 = v => uint(v, 'u16', 0xffff);
const u8 = v => uint(v, 'u8', 0xff);

function bigUint(v, bits) {
  if (typeof v !== 'bigint') throw new TypeError(`Expected bigint for \`u${bits}\`, got ${typeName(v)}`);
  if (v < 0n) throw new TypeError(`Value underflowed \`u${bits}\``);
  if (v >> BigInt(bits) !== 0n) throw new TypeError(`Value overflowed \`u${bits}\``);
  return v;
}

function arrayBuffer(v) {
  if (!(v instanceof ArrayBuffer)) throw new TypeError(`Expected \`ArrayBuffer\`, got ${typeName(v)}`);
  return v;
}

function bytesOf(v, what) {
  if (!(v instanceof Uint8Array)) throw new TypeError(`Expected ${what}, got ${typeName(v)}`);
  return v;
}

function string(v) {
  if (typeof v !== 'string') throw new TypeError(`Expected string, got ${typeName(v)}`);
  return v;
}

function oob() {
  return new RangeError('length argument was out of bounds for `ArrayBuffer`');
}

/** Send a syscall frame built by `build(w)` and return the reply's payload. */
function syscall(op, build) {
  needEnv();
  const w = out.start(K_SYSCALL).u8(op);
  if (build) build(w);
  w.send();
  for (;;) {
    const [kind, payload] = readFrame();
    if (kind !== K_REPLY) throw new Error(`spacetimedb-py host: unexpected frame ${kind} during a syscall`);
    const status = payload[0];
    if (status === 0) return payload.subarray(1);
    if (status === 1) {
      const code = payload.readUInt16LE(1);
      const message = payload.length > 3 ? payload.toString('utf8', 3) : undefined;
      throw hostError(code, message);
    }
    // The host failed in a way the module cannot recover from (upstream terminates the call).
    trap = payload.toString('utf8', 1);
    throw new Error(trap);
  }
}

function newIter(reply) {
  const count = reply.readUInt32LE(0);
  const lens = new Uint32Array(count);
  for (let i = 0; i < count; i++) lens[i] = reply.readUInt32LE(4 + 4 * i);
  // Copy: the reply lives in the frame buffer, which the next read reuses.
  const data = Uint8Array.prototype.slice.call(reply, 4 + 4 * count);
  const id = nextIter++;
  iters.set(id, { data, lens, i: 0, off: 0 });
  return id;
}

function u64Of(reply) {
  return reply.readBigUInt64LE(0);
}

function writeBack(buf, reply) {
  new Uint8Array(buf).set(reply, 0);
  return reply.length;
}

function rangeArgs(w, index, buf, prefixLen, prefixElems, rstartLen, rendLen) {
  u32(index);
  arrayBuffer(buf);
  u32(prefixLen);
  u16(prefixElems);
  u32(rstartLen);
  u32(rendLen);
  if (prefixLen + rstartLen + rendLen > buf.byteLength) throw oob();
  const all = new Uint8Array(buf);
  w.u32(index).u16(prefixElems).u32(prefixLen).u32(rstartLen).u32(rendLen);
  w.bytes(all.subarray(0, prefixLen + rstartLen + rendLen));
}

function formatDuration(ns) {
  // Like Rust's `Debug` for `Duration`, which upstream's timer log line uses.
  const trim = x => String(Number(x.toFixed(6)));
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`;
  return `${trim(ns / 1e9)}s`;
}

function log(level, message) {
  out.start(K_LOG).u8(level).str(message).send();
}

const sys = {
  moduleHooks: Symbol('SpacetimeDB.moduleHooks.v2'),

  table_id_from_name(name) {
    string(name);
    needEnv();
    const id = tables.get(name);
    if (id === undefined) throw hostError(4);
    return id;
  },
  index_id_from_name(name) {
    string(name);
    needEnv();
    const id = indexes.get(name);
    if (id === undefined) throw hostError(5);
    return id;
  },
  datastore_table_row_count(table) {
    u32(table);
    return u64Of(syscall(S_ROW_COUNT, w => w.u32(table)));
  },
  datastore_table_scan_bsatn(table) {
    u32(table);
    return newIter(syscall(S_TABLE_SCAN, w => w.u32(table)));
  },
  datastore_index_scan_point_bsatn(index, buf, len) {
    u32(index);
    arrayBuffer(buf);
    u32(len);
    if (len > buf.byteLength) throw oob();
    return newIter(syscall(S_SCAN_POINT, w => w.u32(index).bytes(new Uint8Array(buf, 0, len))));
  },
  datastore_index_scan_range_bsatn(index, buf, prefixLen, prefixElems, rstartLen, rendLen) {
    return newIter(
      syscall(S_SCAN_RANGE, w => rangeArgs(w, index, buf, prefixLen, prefixElems, rstartLen, rendLen))
    );
  },
  row_iter_bsatn_advance(id, buf) {
    u32(id);
    arrayBuffer(buf);
    const it = iters.get(id);
    if (it === undefined) throw hostError(6);
    // Whole rows only: find how many fit, then copy them in one go.
    const room = buf.byteLength;
    const start = it.off;
    while (it.i < it.lens.length && it.off - start + it.lens[it.i] <= room) {
      it.off += it.lens[it.i];
      it.i++;
    }
    const written = it.off - start;
    if (written > 0) new Uint8Array(buf, 0, written).set(it.data.subarray(start, it.off));
    if (it.i >= it.lens.length) {
      iters.delete(id);
      return written === 0 ? 0 : -written;
    }
    if (written === 0) throw { __buffer_too_small__: it.lens[it.i] };
    return written;
  },
  row_iter_bsatn_close(id) {
    u32(id);
    if (iters.delete(id)) return undefined;
    // A handle this host gave out and has since retired (exhausted, or cleared at the end of
    // its call): the library may close it late, from a finalizer.
    if (id > 0 && id < nextIter) return undefined;
    throw hostError(6);
  },
  datastore_insert_bsatn(table, buf, len) {
    u32(table);
    arrayBuffer(buf);
    u32(len);
    if (len > buf.byteLength) throw oob();
    const reply = syscall(S_INSERT, w => w.u32(table).bytes(new Uint8Array(buf, 0, len)));
    return writeBack(buf, reply);
  },
  datastore_update_bsatn(table, index, buf, len) {
    u32(table);
    u32(index);
    arrayBuffer(buf);
    u32(len);
    if (len > buf.byteLength) throw oob();
    const reply = syscall(S_UPDATE, w => w.u32(table).u32(index).bytes(new Uint8Array(buf, 0, len)));
    return writeBack(buf, reply);
  },
  datastore_delete_by_index_scan_point_bsatn(index, buf, len) {
    u32(index);
    arrayBuffer(buf);
    u32(len);
    if (len > buf.byteLength) throw oob();
    return syscall(S_DELETE_POINT, w => w.u32(index).bytes(new Uint8Array(buf, 0, len))).readUInt32LE(0);
  },
  datastore_delete_by_index_scan_range_bsatn(index, buf, prefixLen, prefixElems, rstartLen, rendLen) {
    const reply = syscall(S_DELETE_RANGE, w =>
      rangeArgs(w, index, buf, prefixLen, prefixElems, rstartLen, rendLen)
    );
    return reply.readUInt32LE(0);
  },
  datastore_delete_all_by_eq_bsatn(table, buf, len) {
    u32(table);
    arrayBuffer(buf);
    u32(len);
    if (len > buf.byteLength) throw oob();
    return syscall(S_DELETE_BY_EQ, w => w.u32(table).bytes(new Uint8Array(buf, 0, len))).readUInt32LE(0);
  },
  datastore_clear(table) {
    u32(table);
    return u64Of(syscall(S_CLEAR, w => w.u32(table)));
  },
  volatile_nonatomic_schedule_immediate(name, args) {
    string(name);
    bytesOf(args, 'Uint8Array for reducer arguments');
    needEnv();
    const n = Buffer.byteLength(name);
    out.start(K_SCHEDULE).u16(n).str(name).bytes(args).send();
  },
  console_log(level, message) {
    u8(level);
    log(level, String(message));
  },
  console_timer_start(name) {
    const id = nextTimer++;
    timers.set(id, { name: String(name), start: process.hrtime.bigint() });
    return id;
  },
  console_timer_end(id) {
    u32(id);
    const timer = timers.get(id);
    if (timer === undefined) throw hostError(7);
    timers.delete(id);
    const ns = Number(process.hrtime.bigint() - timer.start);
    log(2, `Timing span ${JSON.stringify(timer.name)}: ${formatDuration(ns)}`);
  },
  identity() {
    needEnv();
    return databaseIdentity;
  },
  get_jwt_payload(connectionId) {
    bigUint(connectionId, 128);
    return Uint8Array.prototype.slice.call(syscall(S_JWT, w => w.uint(connectionId, 16)));
  },
  procedure_http_request(request, body) {
    bytesOf(request, 'Uint8Array for procedure request');
    const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : bytesOf(body, 'Uint8Array or string for request body');
    const reply = syscall(S_HTTP, w => w.u32(request.length).bytes(request).bytes(bodyBytes));
    const n = reply.readUInt32LE(0);
    const response = Uint8Array.prototype.slice.call(reply, 4, 4 + n);
    const responseBody = Uint8Array.prototype.slice.call(reply, 4 + n);
    return [response, responseBody];
  },
  procedure_start_mut_tx() {
    return u64Of(syscall(S_START_TX));
  },
  procedure_commit_mut_tx() {
    syscall(S_COMMIT_TX);
  },
  procedure_abort_mut_tx() {
    syscall(S_ABORT_TX);
  },
  register_hooks() {
    throw new TypeError('register_hooks belongs to the 1.0 module ABI; this host speaks spacetime:sys@2.x');
  },
};

// ---- errors as SpacetimeDB's V8 host reports them -------------------------------------------

function describeThrown(e) {
  // V8's message for an uncaught exception ("Uncaught Error: boom", "Uncaught 42"), then the
  // module's own frames (those above the library's `callUserFunction`), one per line.
  let message;
  let stack = '';
  try {
    if (e instanceof Error) {
      message = `Uncaught ${Error.prototype.toString.call(e)}`;
      stack = typeof e.stack === 'string' ? e.stack : '';
    } else if (typeof e === 'object' && e !== null) {
      const name = e.constructor && typeof e.constructor.name === 'string' ? e.constructor.name : 'Object';
      message = `Uncaught #<${name}>`;
    } else if (typeof e === 'symbol') {
      message = `Uncaught ${e.toString()}`;
    } else {
      message = `Uncaught ${String(e)}`;
    }
  } catch {
    message = 'Uncaught exception (its text could not be read)';
  }
  const frames = [];
  for (const line of stack.split('\n')) {
    const m = /^\s+at (.*)$/.exec(line);
    if (!m) continue;
    // The module's frames end where the library's dispatcher, or the host loading it, begins.
    if (m[1].includes('__spacetimedb_end_short_backtrace') || m[1].includes('node:internal')) break;
    frames.push(`\tat ${m[1]}`);
  }
  return frames.length ? `${message}\n${frames.join('\n')}` : message;
}

function isSenderError(e) {
  try {
    return typeof e === 'object' && e !== null && e instanceof hooks.__sender_error_class__;
  } catch {
    return false;
  }
}

function finishCall(status, payload) {
  inCall = false;
  iters.clear();
  if (trap !== null) {
    const text = trap;
    trap = null;
    out.start(K_RESULT).u8(R_TRAP).str(text).send();
    return;
  }
  const w = out.start(K_RESULT).u8(status);
  if (typeof payload === 'string') w.str(payload);
  else if (payload) w.bytes(payload);
  w.send();
}

function runCall(fn) {
  inCall = true;
  trap = null;
  let value;
  try {
    value = fn();
  } catch (e) {
    if (isSenderError(e)) {
      let message;
      try {
        message = String(e.message);
      } catch {
        message = '';
      }
      finishCall(R_SENDER_ERROR, message);
    } else {
      finishCall(R_ERROR, describeThrown(e));
    }
    return;
  }
  finishCall(R_OK, value);
}

function callReducer(p) {
  const id = p.readUInt32LE(0);
  const sender = readUint(p, 4, 32);
  const conn = readUint(p, 36, 16);
  const timestamp = p.readBigInt64LE(52);
  const args = Uint8Array.prototype.slice.call(p, 60);
  runCall(() => {
    const ret = hooks.__call_reducer__(id, sender, conn, timestamp, new DataView(args.buffer));
    if (ret !== undefined) throw new TypeError('Reducer returned a value other than `undefined`');
    return null;
  });
}

function viewData(ret, hook) {
  if (typeof ret !== 'object' || ret === null || !(ret.data instanceof Uint8Array)) {
    throw new TypeError(`Expected bytes in the \`data\` field returned from \`${hook}\``);
  }
  return ret.data;
}

function callView(p) {
  const id = p.readUInt32LE(0);
  const sender = readUint(p, 4, 32);
  const args = Uint8Array.prototype.slice.call(p, 36);
  runCall(() => viewData(hooks.__call_view__(id, sender, args), '__call_view__'));
}

function callViewAnon(p) {
  const id = p.readUInt32LE(0);
  const args = Uint8Array.prototype.slice.call(p, 4);
  runCall(() => viewData(hooks.__call_view_anon__(id, args), '__call_view_anon__'));
}

function callProcedure(p) {
  const id = p.readUInt32LE(0);
  const sender = readUint(p, 4, 32);
  const conn = readUint(p, 36, 16);
  const timestamp = p.readBigInt64LE(52);
  const args = Uint8Array.prototype.slice.call(p, 60);
  runCall(() => {
    const ret = hooks.__call_procedure__(id, sender, conn, timestamp, args);
    if (!(ret instanceof Uint8Array)) {
      throw new TypeError('Expected bytes return from `__call_procedure__`');
    }
    return ret;
  });
}

function configure(p) {
  const config = JSON.parse(p.toString('utf8'));
  tables = new Map(Object.entries(config.tables));
  indexes = new Map(Object.entries(config.indexes));
  databaseIdentity = BigInt(config.identity);
}

// ---- start ------------------------------------------------------------------------------------

function loadFailed(stage, e) {
  out.start(K_LOAD_FAILED).str(`${stage}: ${describeThrown(e)}`).send();
  process.exit(0);
}

process.on('uncaughtException', e => {
  // Nothing of the module runs outside a call (the event loop never turns), so this is the
  // host itself failing: say so on stderr, which the Python host logs, and stop.
  process.stderr.write(`spacetimedb-py TypeScript host failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(70);
});

installPolyfills();
globalThis[Symbol.for('spacetimedb-py.sys')] = sys;

let exportsNs;
try {
  exportsNs = await import(pathToFileURL(BUNDLE).href);
} catch (e) {
  loadFailed('the module threw while loading', e);
}
try {
  const schema = exportsNs.default;
  const makeHooks = schema !== null && typeof schema === 'object' ? schema[sys.moduleHooks] : undefined;
  if (typeof makeHooks !== 'function') {
    throw new TypeError(
      "the module's default export is not a schema: end the module with `export default schema(...)` (spacetimedb/server)"
    );
  }
  hooks = makeHooks.call(schema, exportsNs);
  if (hooks === null || typeof hooks !== 'object') throw new TypeError('the schema returned no module hooks');
} catch (e) {
  loadFailed('the module could not be registered', e);
}
let description;
try {
  description = hooks.__describe_module__();
  if (!(description instanceof Uint8Array)) throw new TypeError('Expected bytes return from `__describe_module__`');
} catch (e) {
  loadFailed('describing the module failed', e);
}
out.start(K_READY).bytes(description).send();

for (;;) {
  const [kind, payload] = readFrame();
  switch (kind) {
    case K_CONFIG:
      configure(payload);
      break;
    case K_CALL_REDUCER:
      callReducer(payload);
      break;
    case K_CALL_VIEW:
      callView(payload);
      break;
    case K_CALL_VIEW_ANON:
      callViewAnon(payload);
      break;
    case K_CALL_PROCEDURE:
      callProcedure(payload);
      break;
    case K_EXIT:
      process.exit(0);
      break;
    default:
      process.stderr.write(`spacetimedb-py TypeScript host: unknown frame kind ${kind}\n`);
      process.exit(70);
  }
}
