// Client bindings for the quickstart chat module in the shape the official TypeScript SDK 1.x
// (npm @clockworklabs/spacetimedb-sdk, which speaks the v1.bsatn.spacetimedb protocol) expects,
// written by hand with the package's own type builders: what `spacetime generate --lang
// typescript` of a 1.x CLI declares for the chat module:
//
//   table user    {identity: Identity (primary key), name: Option<String>, online: bool}
//   table message {sender: Identity, sent: Timestamp, text: String}
//   reducer set_name(name: String)
//   reducer send_message(text: String)
//
// Example:
//   import { DbConnection } from './v1_chat_bindings.mjs';
//   const conn = DbConnection.builder()
//     .withUri('ws://127.0.0.1:3000').withModuleName('quickstart-chat')
//     .onConnect(conn => conn.reducers.setName('Alice'))
//     .build();

import {
  AlgebraicType,
  BinaryWriter,
  DbConnectionBuilder,
  DbConnectionImpl,
  ProductTypeElement,
} from '@clockworklabs/spacetimedb-sdk';

/** The CLI version these bindings stand in for (1.x SDKs refuse bindings older than 1.2.0). */
export const CLI_VERSION = '1.3.0';

const product = fields =>
  AlgebraicType.createProductType(
    Object.entries(fields).map(([name, type]) => new ProductTypeElement(name, type)),
  );

/** Row types by table, and each table's primary key (the SDK keys updates by it). */
export const UserRow = product({
  identity: AlgebraicType.createIdentityType(),
  name: AlgebraicType.createOptionType(AlgebraicType.createStringType()),
  online: AlgebraicType.createBoolType(),
});
export const MessageRow = product({
  sender: AlgebraicType.createIdentityType(),
  sent: AlgebraicType.createTimestampType(),
  text: AlgebraicType.createStringType(),
});

/** Reducer argument types, by reducer name, with the accessor the SDK's user code calls. */
export const REDUCERS = {
  set_name: { accessor: 'setName', argsType: product({ name: AlgebraicType.createStringType() }) },
  send_message: {
    accessor: 'sendMessage',
    argsType: product({ text: AlgebraicType.createStringType() }),
  },
};

class RemoteTables {
  constructor(connection) {
    this.connection = connection;
  }
  get user() {
    return this.connection.clientCache.getOrCreateTable(REMOTE_MODULE.tables.user);
  }
  get message() {
    return this.connection.clientCache.getOrCreateTable(REMOTE_MODULE.tables.message);
  }
}

class SetReducerFlags {
  setNameFlags = 'FullUpdate';
  sendMessageFlags = 'FullUpdate';
}

class RemoteReducers {
  constructor(connection, flags) {
    this.connection = connection;
    this.flags = flags;
  }
  #call(reducer, args) {
    const writer = new BinaryWriter(1024);
    REDUCERS[reducer].argsType.serialize(writer, args);
    const flags = this.flags[`${REDUCERS[reducer].accessor}Flags`];
    this.connection.callReducer(reducer, writer.getBuffer(), flags);
  }
  setName(name) {
    this.#call('set_name', { name });
  }
  sendMessage(text) {
    this.#call('send_message', { text });
  }
  /** `callback(ctx, ...args)` after this client's own call of `reducer` (by name). */
  on(reducer, callback) {
    this.connection.onReducer(reducer, callback);
  }
}

/** What DbConnectionBuilder needs to know about the module. */
export const REMOTE_MODULE = {
  tables: {
    user: {
      tableName: 'user',
      rowType: UserRow,
      primaryKey: 'identity',
      primaryKeyInfo: { colName: 'identity', colType: AlgebraicType.createIdentityType() },
    },
    message: { tableName: 'message', rowType: MessageRow },
  },
  reducers: Object.fromEntries(
    Object.entries(REDUCERS).map(([name, r]) => [
      name,
      { reducerName: name, argsType: r.argsType },
    ]),
  ),
  versionInfo: { cliVersion: CLI_VERSION },
  eventContextConstructor: (imp, event) => ({ ...imp, event }),
  dbViewConstructor: imp => new RemoteTables(imp),
  reducersConstructor: (imp, flags) => new RemoteReducers(imp, flags),
  setReducerFlagsConstructor: () => new SetReducerFlags(),
};

/** A connection to a database running the chat module, over protocol v1. */
export class DbConnection extends DbConnectionImpl {
  static builder() {
    return new DbConnectionBuilder(REMOTE_MODULE, imp => imp);
  }
}
