// A module that reaches every part of the local server's TypeScript host: sequences and their
// write-back, multi-column and hash indexes with prefix and range scans, big rows that need
// several iterator buffers, host errors caught by class, procedures (transactions, HTTP),
// views (anonymous, per caller, query builder), schedules, logs, the caller's JWT, and the
// ways a call can go wrong.  Reducers that compute something store it in `result` (name ->
// JSON), which the tests read (tests/server/test_tsmodule_*.py).
import * as sys from 'spacetime:sys@2.0';
import {
  schema,
  table,
  t,
  errors,
  Range,
  ScheduleAt,
  SenderError,
} from 'spacetimedb/server';

const counter = table({ public: true }, { id: t.u64().primaryKey().autoInc(), n: t.u32() });
const small = table({ public: true }, { id: t.u8().primaryKey().autoInc(), label: t.string() });
const pair = table(
  {
    public: true,
    indexes: [{ accessor: 'by_a_b', algorithm: 'btree', columns: ['a', 'b'] }],
  },
  { a: t.i32(), b: t.string(), c: t.u32().index('btree'), h: t.string().index('hash') }
);
const big = table({ public: true }, { id: t.u32().primaryKey(), payload: t.string() });
const result = table({ public: true }, { name: t.string().primaryKey(), value: t.string() });
const player = table({ public: true }, { id: t.u32().primaryKey(), level: t.u32() });
const member = table({ public: true }, { id: t.u32().primaryKey(), group: t.u32().index('btree') });
const owner = table({ public: true }, { identity: t.identity().primaryKey(), n: t.u32() });
const tick = table(
  { public: true, scheduled: (): any => on_tick },
  { id: t.u64().primaryKey().autoInc(), at: t.scheduleAt(), text: t.string() }
);
const procTick = table(
  { public: true, scheduled: (): any => on_proc_tick },
  { id: t.u64().primaryKey().autoInc(), at: t.scheduleAt(), text: t.string() }
);
const journal = table({ public: true }, { id: t.u64().primaryKey().autoInc(), text: t.string() });

const spacetimedb = schema({
  counter,
  small,
  pair,
  big,
  result,
  player,
  member,
  owner,
  tick,
  procTick,
  journal,
});
export default spacetimedb;

function put(ctx: any, name: string, value: unknown): void {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (ctx.db.result.name.find(name)) ctx.db.result.name.update({ name, value: text });
  else ctx.db.result.insert({ name, value: text });
}

function errorName(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${String(e)}`;
}

// ---- sequences ---------------------------------------------------------------------------

export const insert_counter = spacetimedb.reducer({ n: t.u32() }, (ctx, { n }) => {
  const row = ctx.db.counter.insert({ id: 0n, n });
  put(ctx, 'insert_counter', row.id);
});

export const insert_counter_then_fail = spacetimedb.reducer({ n: t.u32() }, (ctx, { n }) => {
  ctx.db.counter.insert({ id: 0n, n });
  throw new SenderError('changed my mind');
});

export const insert_counter_with_id = spacetimedb.reducer(
  { id: t.u64(), n: t.u32() },
  (ctx, { id, n }) => {
    const row = ctx.db.counter.insert({ id, n });
    put(ctx, 'insert_counter_with_id', row.id);
  }
);

export const insert_small = spacetimedb.reducer({ label: t.string() }, (ctx, { label }) => {
  const row = ctx.db.small.insert({ id: 0, label });
  put(ctx, 'insert_small', row.id);
});

// ---- indexes and scans -------------------------------------------------------------------

export const insert_pair = spacetimedb.reducer(
  { a: t.i32(), b: t.string(), c: t.u32() },
  (ctx, { a, b, c }) => {
    ctx.db.pair.insert({ a, b, c, h: b });
  }
);

const rows = (it: Iterable<any>) => [...it].map(r => `${r.a}/${r.b}/${r.c}`);

export const scan_pairs = spacetimedb.reducer(ctx => {
  const ab = ctx.db.pair.by_a_b as any;
  put(ctx, 'prefix a=1', rows(ab.filter(1)));
  put(ctx, 'prefix a in [-1, 1)', rows(ab.filter(new Range({ tag: 'included', value: -1 }, { tag: 'excluded', value: 1 }))));
  put(ctx, 'a=1, b in [b, d)', rows(ab.filter([1, new Range({ tag: 'included', value: 'b' }, { tag: 'excluded', value: 'd' })])));
  put(ctx, 'a=1, b=c', rows(ab.filter([1, 'c'])));
  put(ctx, 'c >= 20', rows(ctx.db.pair.c.filter(new Range({ tag: 'included', value: 20 }, { tag: 'unbounded' }))));
  put(ctx, 'c < 20', rows(ctx.db.pair.c.filter(new Range({ tag: 'unbounded' }, { tag: 'excluded', value: 20 }))));
  put(ctx, 'h = c', rows(ctx.db.pair.h.filter('c')));
  put(ctx, 'count', ctx.db.pair.count());
  put(ctx, 'iter map toArray', ctx.db.pair.iter().map((r: any) => r.a).toArray());
  let rangeOnHash: string;
  try {
    sys.datastore_index_scan_range_bsatn(sys.index_id_from_name('pair_h_idx_hash'), new ArrayBuffer(8), 0, 0, 1, 1);
    rangeOnHash = 'no error';
  } catch (e) {
    rangeOnHash = errorName(e);
  }
  put(ctx, 'range on hash', rangeOnHash);
});

export const scan_a = spacetimedb.reducer({ a: t.i32() }, (ctx, { a }) => {
  put(ctx, 'scan_a', [...(ctx.db.pair.by_a_b as any).filter(a)].map((r: any) => r.b));
});

export const delete_pairs = spacetimedb.reducer({ a: t.i32() }, (ctx, { a }) => {
  const deleted = (ctx.db.pair.by_a_b as any).delete([a, new Range({ tag: 'included', value: 'b' }, { tag: 'unbounded' })]);
  put(ctx, 'deleted', deleted);
});

export const clear_pairs = spacetimedb.reducer(ctx => {
  put(ctx, 'cleared', ctx.db.pair.clear());
});

export const delete_pair_row = spacetimedb.reducer(
  { a: t.i32(), b: t.string(), c: t.u32() },
  (ctx, { a, b, c }) => {
    put(ctx, 'deleted row', ctx.db.pair.delete({ a, b, c, h: b }));
  }
);

export const insert_big = spacetimedb.reducer(
  { first: t.u32(), count: t.u32(), size: t.u32() },
  (ctx, { first, count, size }) => {
    for (let i = first; i < first + count; i++) {
      ctx.db.big.insert({ id: i, payload: String.fromCharCode(97 + (i % 26)).repeat(size) });
    }
    let total = 0;
    let n = 0;
    for (const row of ctx.db.big.iter()) {
      total += row.payload.length;
      n += 1;
    }
    put(ctx, 'big', { rows: n, chars: total });
  }
);

// ---- errors ------------------------------------------------------------------------------

export const catch_host_errors = spacetimedb.reducer(ctx => {
  const seen: Record<string, string> = {};
  ctx.db.player.insert({ id: 1, level: 1 });
  try {
    ctx.db.player.insert({ id: 1, level: 2 });
  } catch (e) {
    seen.duplicate = errorName(e);
    seen.isUniqueAlreadyExists = String(e instanceof errors.UniqueAlreadyExists);
  }
  try {
    ctx.db.player.id.update({ id: 99, level: 2 });
  } catch (e) {
    seen.missing = errorName(e);
  }
  try {
    sys.table_id_from_name('no_such_table');
  } catch (e) {
    seen.table = errorName(e);
  }
  try {
    sys.datastore_table_row_count('counter' as any);
  } catch (e) {
    seen.badArgument = errorName(e);
  }
  try {
    sys.datastore_insert_bsatn(sys.table_id_from_name('player'), new ArrayBuffer(2), 10);
  } catch (e) {
    seen.outOfBounds = errorName(e);
  }
  try {
    sys.datastore_insert_bsatn(sys.table_id_from_name('player'), new ArrayBuffer(2), 2);
  } catch (e) {
    seen.badRow = errorName(e);
  }
  try {
    Math.random();
  } catch (e) {
    seen.mathRandom = errorName(e);
  }
  try {
    sys.procedure_start_mut_tx();
  } catch (e) {
    seen.startTxInReducer = errorName(e);
  }
  put(ctx, 'errors', seen);
});

export const throw_string = spacetimedb.reducer(_ctx => {
  throw 'a plain string';
});

export const throw_object = spacetimedb.reducer(_ctx => {
  throw { code: 42 };
});

export const throw_error = spacetimedb.reducer(ctx => {
  ctx.db.player.insert({ id: 7, level: 7 });
  throw new Error('boom');
});

export const insert_then_spin = spacetimedb.reducer(ctx => {
  ctx.db.player.insert({ id: 8, level: 8 });
  console.log('spinning');
  for (;;) {
    // An infinite loop: the time budget must stop it.
  }
});

export const insert_player = spacetimedb.reducer(
  { id: t.u32(), level: t.u32() },
  (ctx, { id, level }) => {
    ctx.db.player.insert({ id, level });
  }
);

export const insert_member = spacetimedb.reducer(
  { id: t.u32(), group: t.u32() },
  (ctx, { id, group }) => {
    ctx.db.member.insert({ id, group });
  }
);

export const set_owner = spacetimedb.reducer({ n: t.u32() }, (ctx, { n }) => {
  if (ctx.db.owner.identity.find(ctx.sender)) ctx.db.owner.identity.update({ identity: ctx.sender, n });
  else ctx.db.owner.insert({ identity: ctx.sender, n });
});

// ---- callers, logs, scheduling -----------------------------------------------------------

export const whoami = spacetimedb.reducer(ctx => {
  const auth = ctx.senderAuth;
  put(ctx, 'whoami', {
    sender: ctx.sender.toHexString(),
    connection: ctx.connectionId ? ctx.connectionId.toHexString() : null,
    internal: auth.isInternal,
    hasJwt: auth.hasJWT,
    subject: auth.jwt ? auth.jwt.subject : null,
    database: ctx.databaseIdentity.toHexString(),
  });
});

export const log_levels = spacetimedb.reducer(ctx => {
  console.error('an error line');
  console.warn('a warning line');
  console.info('an info line');
  console.debug('a debug line');
  console.log('a log line', { nested: [1, 2] });
  console.time('span');
  console.timeEnd('span');
  put(ctx, 'logged', true);
});

export const schedule_tick = spacetimedb.reducer(
  { text: t.string(), after_micros: t.u64(), repeat: t.bool() },
  (ctx, { text, after_micros, repeat }) => {
    const at = repeat
      ? ScheduleAt.interval(after_micros)
      : ScheduleAt.time(ctx.timestamp.microsSinceUnixEpoch + after_micros);
    ctx.db.tick.insert({ id: 0n, at, text });
  }
);

export const on_tick = spacetimedb.reducer({ arg: tick.rowType }, (ctx, { arg }) => {
  ctx.db.journal.insert({ id: 0n, text: `tick ${arg.text}` });
});

export const schedule_proc_tick = spacetimedb.reducer(
  { text: t.string() },
  (ctx, { text }) => {
    ctx.db.procTick.insert({ id: 0n, at: ScheduleAt.time(ctx.timestamp.microsSinceUnixEpoch), text });
  }
);

export const record = spacetimedb.reducer({ text: t.string() }, (ctx, { text }) => {
  ctx.db.journal.insert({ id: 0n, text });
});

export const schedule_record_now = spacetimedb.reducer({ text: t.string() }, (_ctx, { text }) => {
  // The BSATN of record's arguments: one string, its u32 length then its UTF-8 bytes.
  const bytes = new TextEncoder().encode(text);
  const args = new Uint8Array(4 + bytes.length);
  new DataView(args.buffer).setUint32(0, bytes.length, true);
  args.set(bytes, 4);
  sys.volatile_nonatomic_schedule_immediate('record', args);
});

// ---- procedures --------------------------------------------------------------------------

export const on_proc_tick = spacetimedb.procedure(
  { arg: procTick.rowType },
  t.unit(),
  (ctx, { arg }) => {
    ctx.withTx(tx => {
      tx.db.journal.insert({ id: 0n, text: `proc tick ${arg.text}` });
    });
    return {};
  }
);

export const proc_commit = spacetimedb.procedure({ n: t.u32() }, t.u64(), (ctx, { n }) => {
  return ctx.withTx(tx => tx.db.counter.insert({ id: 0n, n }).id);
});

export const proc_rollback = spacetimedb.procedure(t.string(), ctx => {
  try {
    ctx.withTx(tx => {
      tx.db.counter.insert({ id: 0n, n: 999 });
      throw new Error('undo');
    });
  } catch (e) {
    return errorName(e);
  }
  return 'no error';
});

export const proc_nested = spacetimedb.procedure(t.string(), ctx => {
  let seen = '';
  ctx.withTx(_tx => {
    try {
      sys.procedure_start_mut_tx();
      seen = 'no error';
    } catch (e) {
      seen = errorName(e);
    }
  });
  return seen;
});

export const proc_http = spacetimedb.procedure({ url: t.string() }, t.string(), (ctx, { url }) => {
  try {
    const response = ctx.http.fetch(url, { method: 'POST', body: 'ping', headers: { 'x-test': 'yes' } });
    return `${response.status} ${response.text()}`;
  } catch (e) {
    return errorName(e);
  }
});

export const proc_http_in_tx = spacetimedb.procedure(
  { url: t.string() },
  t.string(),
  (ctx, { url }) => {
    return ctx.withTx(_tx => {
      try {
        ctx.http.fetch(url);
        return 'no error';
      } catch (e) {
        return errorName(e);
      }
    });
  }
);

export const proc_throw = spacetimedb.procedure(t.string(), _ctx => {
  throw new Error('procedure failed');
});

export const proc_spin_in_tx = spacetimedb.procedure(t.string(), ctx => {
  ctx.withTx(tx => {
    tx.db.counter.insert({ id: 0n, n: 1 });
    for (;;) {
      // Stopped by the time budget of the transaction.
    }
  });
  return 'unreachable';
});

// ---- views -------------------------------------------------------------------------------

export const high_players = spacetimedb.anonymousView(
  { public: true },
  t.array(player.rowType),
  ctx => [...ctx.db.player.iter()].filter((p: any) => p.level >= 10)
);

export const my_owner = spacetimedb.view({ public: true }, t.option(owner.rowType), ctx =>
  ctx.db.owner.identity.find(ctx.sender) ?? undefined
);

export const group_one_players = spacetimedb.anonymousView(
  { public: true },
  t.array(player.rowType),
  ctx =>
    ctx.from.member
      .where((m: any) => m.group.eq(1))
      .rightSemijoin(ctx.from.player, (m: any, p: any) => m.id.eq(p.id))
);

export const failing_view = spacetimedb.anonymousView(
  { public: true },
  t.array(player.rowType),
  _ctx => {
    throw new Error('view failed');
  }
);

export const spinning_view = spacetimedb.anonymousView(
  { public: true },
  t.array(player.rowType),
  _ctx => {
    for (;;) {
      // Stopped by the time budget.
    }
  }
);
