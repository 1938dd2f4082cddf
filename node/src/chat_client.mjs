// A scripted quickstart-chat client built on the official TypeScript SDK, for conformance
// tests: commands arrive as JSON lines on stdin, events leave as JSON lines on stdout.
//
// Usage:
//   node node/src/chat_client.mjs --uri ws://127.0.0.1:3000 --db quickstart-chat \
//        [--token T] [--compression none|gzip|brotli] [--protocols v3,v2|v2]
//
// Commands (stdin, one JSON object per line; "id" is optional and echoed back):
//   {"cmd": "subscribe", "id": "s1", "queries": ["SELECT * FROM user"]}   ("sql": "..." also works)
//   {"cmd": "unsubscribe", "id": "s1"}            (default: the latest subscription)
//   {"cmd": "call", "id": "c1", "reducer": "set_name", "args": {"name": "Alice"}}
//   {"cmd": "cache", "table": "user"}              (rows currently in the client cache)
//   {"cmd": "disconnect"}                          (also what end of stdin does)
//
// Events (stdout):
//   {"event": "connected", "identity": hex, "connection_id": hex, "token": str}
//   {"event": "connect_error", "error": str}
//   {"event": "insert"|"delete", "table", "row", "cause"}
//   {"event": "update", "table", "old", "new", "cause"}
//   {"event": "subscription_applied"|"unsubscribe_applied", "id"}
//   {"event": "subscription_error", "id", "error"}
//   {"event": "reducer_result", "id", "reducer", "status": "ok"|"err"|"internal_error", "error"?}
//   {"event": "cache", "table", "rows"}
//   {"event": "error", "error"}                    (a bad command; the client carries on)
//   {"event": "disconnected", "error": str|null}   (then the process exits)
//
// Rows use the plain JSON of tests/fixtures/README.md §1: Identity {"__identity__": hex},
// Timestamp {"__timestamp_micros_since_unix_epoch__": "<decimal>"}, 64-bit+ ints as decimal
// strings. A missing Option is null (the chat module's only option is Option<String>).
// "cause" says what caused a row event: {"kind": "Reducer", "reducer": name, "args": {...}},
// {"kind": "Transaction"}, {"kind": "SubscribeApplied"} or {"kind": "UnsubscribeApplied"}.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  ConnectionId,
  Identity,
  InternalError,
  SenderError,
  TimeDuration,
  Timestamp,
  setGlobalLogLevel,
} from 'spacetimedb';
import { DbConnection, REMOTE_MODULE } from './chat_bindings.mjs';
import { makeSocketFactory, protocolList, V2_PROTOCOL, V3_PROTOCOL } from './ws_adapter.mjs';

// The SDK logs with console.log; stdout belongs to the event stream.
console.log = console.info = console.debug = (...args) => console.error(...args);

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** A decoded SDK value as plain JSON (see the header comment). */
export function plain(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Identity) return { __identity__: value.toHexString() };
  if (value instanceof ConnectionId) return { __connection_id__: value.toHexString() };
  if (value instanceof Timestamp) {
    return {
      __timestamp_micros_since_unix_epoch__: value.__timestamp_micros_since_unix_epoch__.toString(),
    };
  }
  if (value instanceof TimeDuration) {
    return { __time_duration_micros__: value.__time_duration_micros__.toString() };
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
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
      protocols: { type: 'string', default: 'v3,v2' },
      'log-level': { type: 'string', default: 'warn' },
    },
  });
  const protocols = protocolList(values.protocols);
  if (!['none', 'gzip', 'brotli'].includes(values.compression)) {
    throw new Error(`--compression must be none, gzip or brotli, not ${values.compression}`);
  }
  return { ...values, protocols };
}

function build(options) {
  const builder = DbConnection.builder().withUri(options.uri).withDatabaseName(options.db);
  if (options.token) builder.withToken(options.token);
  const defaultProtocols =
    options.protocols.length === 2 &&
    options.protocols[0] === V3_PROTOCOL &&
    options.protocols[1] === V2_PROTOCOL;
  if (options.compression === 'brotli' || !defaultProtocols) {
    // Our adapter both restricts subprotocols and inflates Brotli; otherwise the package's own
    // socket and decompression run untouched.
    builder.withWSFn(
      makeSocketFactory({
        protocols: options.protocols,
        compression: options.compression,
        onInflateError: error => emit({ event: 'error', error: `inflate: ${errorText(error)}` }),
      }),
    );
  } else {
    builder.withCompression(options.compression);
  }
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

function watchTables(conn) {
  for (const table of Object.values(REMOTE_MODULE.tables)) {
    const handle = conn.db[table.accessorName];
    const name = table.sourceName;
    handle.onInsert((ctx, row) =>
      emit({ event: 'insert', table: name, row: plain(row), cause: cause(ctx) }),
    );
    handle.onDelete((ctx, row) =>
      emit({ event: 'delete', table: name, row: plain(row), cause: cause(ctx) }),
    );
    // The SDK only reports updates for tables with a primary key (here: user).
    handle.onUpdate((ctx, oldRow, newRow) =>
      emit({
        event: 'update',
        table: name,
        old: plain(oldRow),
        new: plain(newRow),
        cause: cause(ctx),
      }),
    );
  }
}

/** Runs the commands; returns the function that handles one parsed command. */
function commandRunner(conn) {
  const subscriptions = new Map();
  let counter = 0;
  const nextId = prefix => `${prefix}${++counter}`;

  const handlers = {
    subscribe(cmd) {
      const id = cmd.id ?? nextId('s');
      const queries = cmd.queries ?? (cmd.sql !== undefined ? [cmd.sql].flat() : []);
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
      if (handle === undefined)
        throw new Error(`no subscription ${JSON.stringify(id)} to unsubscribe`);
      subscriptions.delete(id);
      handle.unsubscribeThen(() => emit({ event: 'unsubscribe_applied', id }));
    },
    call(cmd) {
      const id = cmd.id ?? nextId('c');
      const reducer = REMOTE_MODULE.reducers.find(
        r => r.name === cmd.reducer || r.accessorName === cmd.reducer,
      );
      if (reducer === undefined) {
        const known = REMOTE_MODULE.reducers.map(r => r.name).join(', ');
        throw new Error(`unknown reducer ${JSON.stringify(cmd.reducer)}; known: ${known}`);
      }
      conn.reducers[reducer.accessorName](cmd.args ?? {}).then(
        () => emit({ event: 'reducer_result', id, reducer: reducer.name, status: 'ok' }),
        error =>
          emit({
            event: 'reducer_result',
            id,
            reducer: reducer.name,
            status:
              error instanceof SenderError
                ? 'err'
                : error instanceof InternalError
                  ? 'internal_error'
                  : 'error',
            error: errorText(error),
          }),
      );
    },
    cache(cmd) {
      const table = Object.values(REMOTE_MODULE.tables).find(
        t => t.sourceName === cmd.table || t.accessorName === cmd.table,
      );
      if (table === undefined) throw new Error(`unknown table ${JSON.stringify(cmd.table)}`);
      const rows = [...conn.db[table.accessorName].iter()].map(plain);
      emit({ event: 'cache', table: table.sourceName, rows });
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
      if (handler === undefined) {
        throw new Error(
          `unknown cmd ${JSON.stringify(cmd.cmd)}; known: ${Object.keys(handlers).join(', ')}`,
        );
      }
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
    process.stderr.write(`chat_client: ${errorText(error)}\n`);
    process.exit(2);
  }
  setGlobalLogLevel(options['log-level']);
  const conn = build(options);
  watchTables(conn);
  const run = commandRunner(conn);
  const input = createInterface({ input: process.stdin });
  input.on('line', run);
  input.on('close', () => conn.disconnect());
}

main();
