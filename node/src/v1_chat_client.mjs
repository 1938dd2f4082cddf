// A scripted quickstart-chat client built on the official TypeScript SDK 1.x
// (npm @clockworklabs/spacetimedb-sdk@1.3.3), which speaks protocol v1 (v1.bsatn.spacetimedb).
// Same command/event protocol as chat_client.mjs (JSON lines on stdin/stdout), so the tests'
// TsChatClient drives both.
//
// Usage:
//   node node/src/v1_chat_client.mjs --uri ws://127.0.0.1:3000 --db quickstart-chat \
//        [--token T] [--compression none|gzip] [--light]
//
// Commands (stdin, one JSON object per line; "id" is optional and echoed back):
//   {"cmd": "subscribe", "id": "s1", "queries": ["SELECT * FROM user"]}
//   {"cmd": "unsubscribe", "id": "s1"}            (default: the latest subscription)
//   {"cmd": "call", "id": "c1", "reducer": "set_name", "args": {"name": "Alice"},
//    "flags": "FullUpdate"|"NoSuccessNotify"}
//   {"cmd": "cache", "table": "user"}
//   {"cmd": "disconnect"}                          (also what end of stdin does)
//
// Events (stdout):
//   {"event": "connected", "identity": hex, "connection_id": hex, "token": str}
//   {"event": "connect_error", "error": str}
//   {"event": "insert"|"delete", "table", "row", "cause"}
//   {"event": "update", "table", "old", "new", "cause"}
//   {"event": "subscription_applied"|"unsubscribe_applied", "id"}
//   {"event": "subscription_error", "id", "error"}
//   {"event": "reducer_result", "reducer", "status": "ok"|"err"|"out_of_energy", "error"?, "args"}
//       (1.x reports a call through the caller's TransactionUpdate; none with NoSuccessNotify)
//   {"event": "cache", "table", "rows"}
//   {"event": "error", "error"}
//   {"event": "disconnected", "error": str|null}
//
// "cause" is {"kind": "Reducer", "reducer", "args"}, {"kind": "UnknownTransaction"} (a light
// update), {"kind": "SubscribeApplied"} or {"kind": "UnsubscribeApplied"}.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConnectionId, Identity, Timestamp } from '@clockworklabs/spacetimedb-sdk';
import { DbConnection, REDUCERS, REMOTE_MODULE } from './v1_chat_bindings.mjs';

// The SDK logs with console.log; stdout belongs to the event stream.
console.log = console.info = console.debug = (...args) => console.error(...args);

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** A decoded SDK value as plain JSON (as chat_client.mjs prints them). */
function plain(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Identity) return { __identity__: value.toHexString() };
  if (value instanceof ConnectionId) return { __connection_id__: value.toHexString() };
  if (value instanceof Timestamp) {
    return {
      __timestamp_micros_since_unix_epoch__: value.__timestamp_micros_since_unix_epoch__.toString(),
    };
  }
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function cause(ctx) {
  const event = ctx.event;
  if (event?.tag === 'Reducer') {
    return {
      kind: 'Reducer',
      reducer: event.value.reducer.name,
      args: plain(event.value.reducer.args),
    };
  }
  return { kind: event?.tag ?? 'Unknown' };
}

function errorText(error) {
  if (error === undefined || error === null) return null;
  return error instanceof Error ? error.message : String(error);
}

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      uri: { type: 'string', default: 'ws://127.0.0.1:3000' },
      db: { type: 'string', default: 'quickstart-chat' },
      token: { type: 'string' },
      compression: { type: 'string', default: 'gzip' },
      protocols: { type: 'string', default: 'v1' }, // accepted for TsChatClient; always v1
      light: { type: 'boolean', default: false },
    },
  });
  if (!['none', 'gzip'].includes(values.compression)) {
    throw new Error(
      `--compression must be none or gzip (1.x has no Brotli), not ${values.compression}`,
    );
  }
  return values;
}

function build(options) {
  const builder = DbConnection.builder()
    .withUri(options.uri)
    .withModuleName(options.db)
    .withCompression(options.compression)
    .withLightMode(options.light);
  if (options.token) builder.withToken(options.token);
  return builder
    .onConnect((conn, identity, token) =>
      emit({
        event: 'connected',
        identity: identity.toHexString(),
        connection_id: conn.connectionId?.toHexString() ?? null,
        token,
      }),
    )
    .onConnectError((_ctx, error) => {
      emit({ event: 'connect_error', error: errorText(error) });
      process.exit(1);
    })
    .onDisconnect((_ctx, error) => {
      emit({ event: 'disconnected', error: errorText(error) });
      process.exit(0);
    })
    .build();
}

function watch(conn) {
  for (const name of Object.keys(REMOTE_MODULE.tables)) {
    const table = conn.db[name];
    table.onInsert((ctx, row) =>
      emit({ event: 'insert', table: name, row: plain(row), cause: cause(ctx) }),
    );
    table.onDelete((ctx, row) =>
      emit({ event: 'delete', table: name, row: plain(row), cause: cause(ctx) }),
    );
    table.onUpdate((ctx, oldRow, newRow) =>
      emit({
        event: 'update',
        table: name,
        old: plain(oldRow),
        new: plain(newRow),
        cause: cause(ctx),
      }),
    );
  }
  for (const reducer of Object.keys(REDUCERS)) {
    conn.reducers.on(reducer, (ctx, ...args) => {
      const status = ctx.event.status;
      emit({
        event: 'reducer_result',
        reducer,
        status: { Committed: 'ok', Failed: 'err', OutOfEnergy: 'out_of_energy' }[status.tag],
        error: status.tag === 'Failed' ? status.value : undefined,
        args: plain(args),
      });
    });
  }
}

function commandRunner(conn) {
  const subscriptions = new Map();
  let counter = 0;
  const nextId = prefix => `${prefix}${++counter}`;
  const handlers = {
    subscribe(cmd) {
      const id = cmd.id ?? nextId('s');
      const queries = cmd.queries ?? [];
      if (queries.length === 0) throw new Error('subscribe needs "queries": [sql, ...]');
      const handle = conn
        .subscriptionBuilder()
        .onApplied(() => emit({ event: 'subscription_applied', id }))
        .onError(ctx => {
          subscriptions.delete(id);
          emit({ event: 'subscription_error', id, error: errorText(ctx.event) });
        })
        .subscribe(queries);
      subscriptions.set(id, handle);
    },
    unsubscribe(cmd) {
      const id = cmd.id ?? [...subscriptions.keys()].at(-1);
      const handle = subscriptions.get(id);
      if (handle === undefined) throw new Error(`no subscription ${JSON.stringify(id)}`);
      subscriptions.delete(id);
      handle.unsubscribeThen(() => emit({ event: 'unsubscribe_applied', id }));
    },
    call(cmd) {
      const reducer = REDUCERS[cmd.reducer];
      if (reducer === undefined) throw new Error(`unknown reducer ${JSON.stringify(cmd.reducer)}`);
      conn.setReducerFlags[`${reducer.accessor}Flags`] = cmd.flags ?? 'FullUpdate';
      const args = reducer.argsType.product.elements.map(e => (cmd.args ?? {})[e.name]);
      conn.reducers[reducer.accessor](...args);
    },
    cache(cmd) {
      const table = conn.db[cmd.table];
      if (table === undefined) throw new Error(`unknown table ${JSON.stringify(cmd.table)}`);
      emit({ event: 'cache', table: cmd.table, rows: table.iter().map(plain) });
    },
    disconnect() {
      conn.disconnect();
    },
  };
  return line => {
    if (line.trim() === '') return;
    try {
      const cmd = JSON.parse(line);
      const handler = handlers[cmd.cmd];
      if (handler === undefined) throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}`);
      handler(cmd);
    } catch (error) {
      emit({ event: 'error', error: errorText(error), line });
    }
  };
}

function main() {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`v1_chat_client: ${errorText(error)}\n`);
    process.exit(2);
  }
  const conn = build(options);
  watch(conn);
  const run = commandRunner(conn);
  const input = createInterface({ input: process.stdin });
  input.on('line', run);
  input.on('close', () => conn.disconnect());
}

main();
