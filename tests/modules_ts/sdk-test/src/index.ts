// This project's TypeScript port of upstream's `modules/sdk-test`, the module every official SDK
// is tested on, written with the npm `spacetimedb` module library (`spacetimedb/server`).
//
// It has the schema of upstream's TypeScript twin (`modules/sdk-test-ts`): the same tables,
// columns, keys, indexes, named types, reducers and row-level-security filters
// (tests/modules/test_schema_equality.py compares it with the definition the official library
// produced from that twin).  Like the Python port (tests/modules/sdk_test.py), most tables come
// from one line each: the value kinds below, and `define`, which declares a table and the
// reducers its line asks for.  A Rust `anyhow` error is a `SenderError` (the caller's `Err`
// outcome); a Rust panic is an exception, which the host reports as an internal error.
import {
  schema,
  table,
  t,
  SenderError,
  type ModuleExport,
} from 'spacetimedb/server';

// ---- named types ---------------------------------------------------------------------------

const SimpleEnum = t.enum('SimpleEnum', ['Zero', 'One', 'Two']);

const EnumWithPayload = t.enum('EnumWithPayload', {
  U8: t.u8(),
  U16: t.u16(),
  U32: t.u32(),
  U64: t.u64(),
  U128: t.u128(),
  U256: t.u256(),
  I8: t.i8(),
  I16: t.i16(),
  I32: t.i32(),
  I64: t.i64(),
  I128: t.i128(),
  I256: t.i256(),
  Bool: t.bool(),
  F32: t.f32(),
  F64: t.f64(),
  Str: t.string(),
  Identity: t.identity(),
  ConnectionId: t.connectionId(),
  Timestamp: t.timestamp(),
  Uuid: t.uuid(),
  Bytes: t.array(t.u8()),
  Ints: t.array(t.i32()),
  Strings: t.array(t.string()),
  SimpleEnums: t.array(SimpleEnum),
});

const UnitStruct = t.object('UnitStruct', {});

const ByteStruct = t.object('ByteStruct', { b: t.u8() });

// The primitive kinds in upstream's field order (a..u), shared by the two structs below.
const PRIMITIVE_FIELDS: Array<[string, () => any]> = [
  ['a', () => t.u8()],
  ['b', () => t.u16()],
  ['c', () => t.u32()],
  ['d', () => t.u64()],
  ['e', () => t.u128()],
  ['f', () => t.u256()],
  ['g', () => t.i8()],
  ['h', () => t.i16()],
  ['i', () => t.i32()],
  ['j', () => t.i64()],
  ['k', () => t.i128()],
  ['l', () => t.i256()],
  ['m', () => t.bool()],
  ['n', () => t.f32()],
  ['o', () => t.f64()],
  ['p', () => t.string()],
  ['q', () => t.identity()],
  ['r', () => t.connectionId()],
  ['s', () => t.timestamp()],
  ['t', () => t.timeDuration()],
  ['u', () => t.uuid()],
];

const EveryPrimitiveStruct = t.object(
  'EveryPrimitiveStruct',
  Object.fromEntries(PRIMITIVE_FIELDS.map(([name, make]) => [name, make()]))
);

const EveryVecStruct = t.object(
  'EveryVecStruct',
  Object.fromEntries(PRIMITIVE_FIELDS.map(([name, make]) => [name, t.array(make())]))
);

// ---- the value kinds the one_, vec_, unique_ and pk_ tables hold ----------------------------

/** A kind of value: its name in table and reducer names, a type builder, the column name. */
type Kind = [name: string, make: () => any, column: string];

const KINDS: Kind[] = [
  ['U8', () => t.u8(), 'n'],
  ['U16', () => t.u16(), 'n'],
  ['U32', () => t.u32(), 'n'],
  ['U64', () => t.u64(), 'n'],
  ['U128', () => t.u128(), 'n'],
  ['U256', () => t.u256(), 'n'],
  ['I8', () => t.i8(), 'n'],
  ['I16', () => t.i16(), 'n'],
  ['I32', () => t.i32(), 'n'],
  ['I64', () => t.i64(), 'n'],
  ['I128', () => t.i128(), 'n'],
  ['I256', () => t.i256(), 'n'],
  ['Bool', () => t.bool(), 'b'],
  ['F32', () => t.f32(), 'f'],
  ['F64', () => t.f64(), 'f'],
  ['String', () => t.string(), 's'],
  ['Identity', () => t.identity(), 'i'],
  ['ConnectionId', () => t.connectionId(), 'a'],
  ['Uuid', () => t.uuid(), 'u'],
  ['Timestamp', () => t.timestamp(), 't'],
  ['SimpleEnum', () => SimpleEnum, 'e'],
  ['EnumWithPayload', () => EnumWithPayload, 'e'],
  ['UnitStruct', () => UnitStruct, 's'],
  ['ByteStruct', () => ByteStruct, 's'],
  ['EveryPrimitiveStruct', () => EveryPrimitiveStruct, 's'],
  ['EveryVecStruct', () => EveryVecStruct, 's'],
];

/** The kinds a unique or primary key may have: no floats, timestamps, enums or structs. */
const KEY_KINDS = KINDS.filter(
  ([name]) =>
    !['F32', 'F64', 'Timestamp', 'SimpleEnum', 'EnumWithPayload'].includes(name) &&
    !name.includes('Struct')
);

/** Upstream's `[<$name:snake>]`: `OneU8` -> `one_u8`, `PkU32Two` -> `pk_u32_two`. */
function snake(name: string): string {
  return name.replace(/(?<=.)([A-Z])/g, '_$1').toLowerCase();
}

function camel(name: string): string {
  return name[0].toLowerCase() + name.slice(1);
}

// ---- define: a public table and the reducers its line asks for -----------------------------

/** Reducers a table line asks for, each by its reducer name. */
type Ops = {
  /** Insert the row passed as arguments. */
  insert?: string;
  /** Delete the row passed as arguments. */
  delete?: string;
  /** Update the row with the key passed (the primary key's update). */
  update?: string;
  /** Delete the row with the unique key passed, then insert the new row. */
  updateNonPk?: string;
  /** Delete the row with the key passed. */
  deleteBy?: string;
};

type Line = { accessor: string; row: Record<string, any>; ops: Ops; key?: string };

const lines: Line[] = [];
const tables: Record<string, any> = {};

function define(accessor: string, row: Record<string, any>, ops: Ops, key?: string): any {
  tables[accessor] = table({ public: true }, row);
  lines.push({ accessor, row, ops, key });
  return tables[accessor];
}

// Tables holding one value, and a Vec of values, of every kind.
for (const [name, make, column] of KINDS) {
  define(camel('One' + name), { [column]: make() }, { insert: `insert_${snake('One' + name)}` });
}
for (const [name, make, column] of KINDS) {
  define(
    camel('Vec' + name),
    { [column]: t.array(make()) },
    { insert: `insert_${snake('Vec' + name)}` }
  );
}

// Tables holding an Option.
const OPTIONS: Array<[string, string, () => any]> = [
  ['OptionI32', 'n', () => t.option(t.i32())],
  ['OptionString', 's', () => t.option(t.string())],
  ['OptionIdentity', 'i', () => t.option(t.identity())],
  ['OptionUuid', 'u', () => t.option(t.uuid())],
  ['OptionSimpleEnum', 'e', () => t.option(SimpleEnum)],
  ['OptionEveryPrimitiveStruct', 's', () => t.option(EveryPrimitiveStruct)],
  ['OptionVecOptionI32', 'v', () => t.option(t.array(t.option(t.i32())))],
];
for (const [name, column, make] of OPTIONS) {
  define(camel(name), { [column]: make() }, { insert: `insert_${snake(name)}` });
}

// Tables holding a Result.
const RESULTS: Array<[string, () => any]> = [
  ['ResultI32String', () => t.result(t.i32(), t.string())],
  ['ResultStringI32', () => t.result(t.string(), t.i32())],
  ['ResultIdentityString', () => t.result(t.identity(), t.string())],
  ['ResultSimpleEnumI32', () => t.result(SimpleEnum, t.i32())],
  ['ResultEveryPrimitiveStructString', () => t.result(EveryPrimitiveStruct, t.string())],
  ['ResultVecI32String', () => t.result(t.array(t.i32()), t.string())],
];
for (const [name, make] of RESULTS) {
  define(camel(name), { r: make() }, { insert: `insert_${snake(name)}` });
}

// Tables mapping a unique, but non-pk, key to a boring i32 payload.
for (const [name, make, column] of KEY_KINDS) {
  const s = snake(name);
  define(
    camel('Unique' + name),
    { [column]: make().unique(), data: t.i32() },
    {
      insert: `insert_unique_${s}`,
      updateNonPk: `update_unique_${s}`,
      deleteBy: `delete_unique_${s}`,
    },
    column
  );
}

// Tables mapping a primary key to a boring i32 payload (PkU32Two is a second u32 table).
const PK_KINDS: Kind[] = [...KEY_KINDS.slice(0, 3), ['U32Two', () => t.u32(), 'n'], ...KEY_KINDS.slice(3)];
for (const [name, make, column] of PK_KINDS) {
  const s = snake(name);
  define(
    camel('Pk' + name),
    { [column]: make().primaryKey(), data: t.i32() },
    { insert: `insert_pk_${s}`, update: `update_pk_${s}`, deleteBy: `delete_pk_${s}` },
    column
  );
}
define('pkSimpleEnum', { a: SimpleEnum.primaryKey(), data: t.i32() }, {
  insert: 'insert_pk_simple_enum',
});

// Some weird-looking tables: one with many columns of many types, and one holding rows of
// other tables (tables as types).
define(
  'largeTable',
  {
    a: t.u8(),
    b: t.u16(),
    c: t.u32(),
    d: t.u64(),
    e: t.u128(),
    f: t.u256(),
    g: t.i8(),
    h: t.i16(),
    i: t.i32(),
    j: t.i64(),
    k: t.i128(),
    l: t.i256(),
    m: t.bool(),
    n: t.f32(),
    o: t.f64(),
    p: t.string(),
    q: SimpleEnum,
    r: EnumWithPayload,
    s: UnitStruct,
    t: ByteStruct,
    u: EveryPrimitiveStruct,
    v: EveryVecStruct,
  },
  { insert: 'insert_large_table', delete: 'delete_large_table' }
);
define(
  'tableHoldsTable',
  { a: tables.oneU8.rowType, b: tables.vecU8.rowType },
  { insert: 'insert_table_holds_table' }
);

// ---- tables declared on their own ----------------------------------------------------------

const scheduledTable = table(
  { name: 'scheduled_table', public: true, scheduled: (): any => send_scheduled_message },
  {
    scheduled_id: t.u64().primaryKey().autoInc(),
    scheduled_at: t.scheduleAt(),
    text: t.string(),
  }
);

const indexedTable = table({ name: 'indexed_table' }, { player_id: t.u32().index('btree') });

const indexedTable2 = table(
  {
    indexes: [
      {
        accessor: 'player_id_snazz_index',
        algorithm: 'btree',
        columns: ['player_id', 'player_snazz'],
      },
    ],
  },
  { player_id: t.u32(), player_snazz: t.f32() }
);

const btreeU32 = table(
  { public: true },
  t.row('BTreeU32', { n: t.u32().index('btree'), data: t.i32() })
);

const users = table(
  { name: 'users', public: true },
  { identity: t.identity().primaryKey(), name: t.string() }
);

const indexedSimpleEnum = table(
  { name: 'indexed_simple_enum', public: true },
  { n: SimpleEnum.index('btree') }
);

const spacetimedb = schema({
  ...tables,
  scheduledTable,
  indexedTable,
  indexedTable2,
  btreeU32,
  users,
  indexedSimpleEnum,
});
export default spacetimedb;

// ---- the reducers of the table lines -------------------------------------------------------

function lineReducers(line: Line): Record<string, ModuleExport> {
  const out: Record<string, ModuleExport> = {};
  const of = (ctx: any): any => ctx.db[line.accessor];
  const { ops, key, row } = line;
  if (ops.insert) {
    out[ops.insert] = spacetimedb.reducer(row, (ctx, args) => {
      of(ctx).insert({ ...args });
    });
  }
  if (ops.delete) {
    out[ops.delete] = spacetimedb.reducer(row, (ctx, args) => {
      of(ctx).delete({ ...args });
    });
  }
  if (key !== undefined) {
    if (ops.update) {
      out[ops.update] = spacetimedb.reducer(row, (ctx, args) => {
        of(ctx)[key].update({ ...args });
      });
    }
    if (ops.updateNonPk) {
      out[ops.updateNonPk] = spacetimedb.reducer(row, (ctx, args: any) => {
        of(ctx)[key].delete(args[key]);
        of(ctx).insert({ ...args });
      });
    }
    if (ops.deleteBy) {
      out[ops.deleteBy] = spacetimedb.reducer({ [key]: row[key] }, (ctx, args: any) => {
        of(ctx)[key].delete(args[key]);
      });
    }
  }
  return out;
}

export const table_line_reducers = spacetimedb.exportGroup(
  Object.assign({}, ...lines.map(lineReducers))
);

// ---- row-level security ------------------------------------------------------------------

export const rls_one_u8 = spacetimedb.clientVisibilityFilter.sql('SELECT * FROM one_u_8');
export const rls_users = spacetimedb.clientVisibilityFilter.sql(
  'SELECT * FROM users WHERE identity = :sender'
);

// ---- the other reducers ------------------------------------------------------------------

export const update_pk_simple_enum = spacetimedb.reducer(
  { a: SimpleEnum, data: t.i32() },
  (ctx, { a, data }) => {
    const found = ctx.db.pkSimpleEnum.a.find(a);
    if (found == null) throw new SenderError('row not found');
    ctx.db.pkSimpleEnum.a.update({ ...found, data });
  }
);

export const insert_into_btree_u32 = spacetimedb.reducer(
  { rows: t.array(btreeU32.rowType) },
  (ctx, { rows }) => {
    for (const row of rows) ctx.db.btreeU32.insert(row);
  }
);

export const delete_from_btree_u32 = spacetimedb.reducer(
  { rows: t.array(btreeU32.rowType) },
  (ctx, { rows }) => {
    for (const row of rows) ctx.db.btreeU32.delete(row);
  }
);

export const insert_into_pk_btree_u32 = spacetimedb.reducer(
  { pk_u32: t.array(tables.pkU32.rowType), bt_u32: t.array(btreeU32.rowType) },
  (ctx, { pk_u32, bt_u32 }) => {
    for (const row of pk_u32 as any[]) ctx.db.pkU32.insert(row);
    for (const row of bt_u32) ctx.db.btreeU32.insert(row);
  }
);

/** For the test that left-semijoins `unique_u_32` to `pk_u_32` (row deduplication). */
export const insert_unique_u32_update_pk_u32 = spacetimedb.reducer(
  { n: t.u32(), d_unique: t.i32(), d_pk: t.i32() },
  (ctx, { n, d_unique, d_pk }) => {
    ctx.db.uniqueU32.insert({ n, data: d_unique });
    ctx.db.pkU32.n.update({ n, data: d_pk });
  }
);

/** For the test with two semijoins, `unique_u_32` to `pk_u_32` and to `pk_u_32_two`. */
export const delete_pk_u32_insert_pk_u32_two = spacetimedb.reducer(
  { n: t.u32(), data: t.i32() },
  (ctx, { n, data }) => {
    ctx.db.pkU32Two.insert({ n, data });
    ctx.db.pkU32.delete({ n, data });
  }
);

function callerConnectionId(ctx: any): any {
  if (ctx.connectionId == null) throw new SenderError('No connection id in reducer context');
  return ctx.connectionId;
}

export const insert_caller_one_identity = spacetimedb.reducer(ctx => {
  ctx.db.oneIdentity.insert({ i: ctx.sender });
});

export const insert_caller_vec_identity = spacetimedb.reducer(ctx => {
  ctx.db.vecIdentity.insert({ i: [ctx.sender] });
});

export const insert_caller_unique_identity = spacetimedb.reducer(
  { data: t.i32() },
  (ctx, { data }) => {
    ctx.db.uniqueIdentity.insert({ i: ctx.sender, data });
  }
);

export const insert_caller_pk_identity = spacetimedb.reducer({ data: t.i32() }, (ctx, { data }) => {
  ctx.db.pkIdentity.insert({ i: ctx.sender, data });
});

export const insert_caller_one_connection_id = spacetimedb.reducer(ctx => {
  ctx.db.oneConnectionId.insert({ a: callerConnectionId(ctx) });
});

export const insert_caller_vec_connection_id = spacetimedb.reducer(ctx => {
  ctx.db.vecConnectionId.insert({ a: [callerConnectionId(ctx)] });
});

export const insert_caller_unique_connection_id = spacetimedb.reducer(
  { data: t.i32() },
  (ctx, { data }) => {
    ctx.db.uniqueConnectionId.insert({ a: callerConnectionId(ctx), data });
  }
);

export const insert_caller_pk_connection_id = spacetimedb.reducer(
  { data: t.i32() },
  (ctx, { data }) => {
    ctx.db.pkConnectionId.insert({ a: callerConnectionId(ctx), data });
  }
);

export const insert_call_timestamp = spacetimedb.reducer(ctx => {
  ctx.db.oneTimestamp.insert({ t: ctx.timestamp });
});

export const insert_call_uuid_v4 = spacetimedb.reducer(ctx => {
  ctx.db.oneUuid.insert({ u: ctx.newUuidV4() });
});

export const insert_call_uuid_v7 = spacetimedb.reducer(ctx => {
  ctx.db.oneUuid.insert({ u: ctx.newUuidV7() });
});

// Rust's `to_string()` of the values insert_primitives_as_strings stores: chrono's RFC 3339
// for a timestamp (a fraction of 0, 3, 6 or 9 digits, `+00:00`), `±secs.micros` for a duration.
function rfc3339(micros: bigint): string {
  const secs = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
  const frac = micros - secs * 1_000_000n;
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  let fraction = '';
  if (frac !== 0n) {
    fraction =
      frac % 1000n === 0n
        ? '.' + String(frac / 1000n).padStart(3, '0')
        : '.' + String(frac).padStart(6, '0');
  }
  return `${base}${fraction}+00:00`;
}

function duration(micros: bigint): string {
  const sign = micros < 0n ? '-' : '+';
  const abs = micros < 0n ? -micros : micros;
  return `${sign}${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, '0')}`;
}

export const insert_primitives_as_strings = spacetimedb.reducer(
  { s: EveryPrimitiveStruct },
  (ctx, { s }) => {
    const v = s as any;
    const texts = [
      ...'abcdefghijklmnop'.split('').map(k => String(v[k])),
      v.q.toHexString(),
      v.r.toHexString(),
      rfc3339(v.s.microsSinceUnixEpoch),
      duration(v.t.micros),
      v.u.toString(),
    ];
    ctx.db.vecString.insert({ s: texts });
  }
);

export const no_op_succeeds = spacetimedb.reducer(_ctx => {});

export const send_scheduled_message = spacetimedb.reducer(
  { arg: scheduledTable.rowType },
  (_ctx, _args) => {}
);

export const insert_user = spacetimedb.reducer(
  { name: t.string(), identity: t.identity() },
  (ctx, { name, identity }) => {
    ctx.db.users.insert({ name, identity });
  }
);

export const insert_into_indexed_simple_enum = spacetimedb.reducer(
  { n: SimpleEnum },
  (ctx, { n }) => {
    ctx.db.indexedSimpleEnum.insert({ n });
  }
);

export const update_indexed_simple_enum = spacetimedb.reducer(
  { a: SimpleEnum, b: SimpleEnum },
  (ctx, { a, b }) => {
    if (ctx.db.indexedSimpleEnum.n.filter(a).next().done === false) {
      ctx.db.indexedSimpleEnum.n.delete(a);
      ctx.db.indexedSimpleEnum.insert({ n: b });
    }
  }
);

export const sorted_uuids_insert = spacetimedb.reducer(ctx => {
  for (let i = 0; i < 1000; i++) {
    ctx.db.pkUuid.insert({ u: ctx.newUuidV7(), data: 0 });
  }
  // The UUIDs must come back sorted, in the table's own iteration order (as upstream checks).
  let last: any = null;
  for (const row of ctx.db.pkUuid.iter()) {
    if (last !== null && last.asBigInt() >= row.u.asBigInt()) {
      throw new SenderError('UUIDs are not sorted correctly');
    }
    last = row.u;
  }
});
