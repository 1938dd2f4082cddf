// Client bindings for the quickstart chat module, written by hand with the package's own
// schema builders (there is no `spacetime` CLI on npm to generate them). They declare what
// `spacetime generate --lang typescript` would declare for the chat module:
//
//   table user    {identity: Identity (primary key), name: Option<String>, online: bool}
//   table message {sender: Identity, sent: Timestamp, text: String}
//   reducer set_name(name: String)
//   reducer send_message(text: String)
//
// Example:
//   import { DbConnection } from './chat_bindings.mjs';
//   const conn = DbConnection.builder()
//     .withUri('ws://127.0.0.1:3000').withDatabaseName('quickstart-chat')
//     .onConnect((conn, identity) => conn.reducers.setName({ name: 'Alice' }))
//     .build();

import {
  DbConnectionBuilder as PackageDbConnectionBuilder,
  DbConnectionImpl,
  SubscriptionBuilderImpl,
  convertToAccessorMap,
  makeQueryBuilder,
  procedures,
  reducerSchema,
  reducers as reducersOf,
  schema,
  t,
  table,
} from 'spacetimedb';

/** The CLI version these bindings stand in for (the SDK refuses bindings older than 1.4.0). */
export const CLI_VERSION = '2.8.3';

/** Row of `user`: one per identity that ever connected. */
export const UserRow = {
  identity: t.identity().primaryKey(),
  name: t.option(t.string()),
  online: t.bool(),
};

/** Row of `message`: one per chat message. */
export const MessageRow = {
  sender: t.identity(),
  sent: t.timestamp(),
  text: t.string(),
};

const tablesSchema = schema({
  user: table({ name: 'user', public: true }, UserRow),
  message: table({ name: 'message', public: true }, MessageRow),
});

const reducersSchema = reducersOf(
  reducerSchema('set_name', { name: t.string() }),
  reducerSchema('send_message', { text: t.string() }),
);

/** What DbConnectionBuilder needs to know about the module: tables, reducers, procedures. */
export const REMOTE_MODULE = {
  versionInfo: { cliVersion: CLI_VERSION },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...procedures(),
};

/** Query builders for the module's tables, e.g. `tables.user.build()`. */
export const tables = makeQueryBuilder(tablesSchema.schemaType);

/** Reducer descriptions keyed by accessor name (`setName`, `sendMessage`). */
export const reducers = convertToAccessorMap(REMOTE_MODULE.reducers);

/** Subscription builder bound to this module. */
export class SubscriptionBuilder extends SubscriptionBuilderImpl {}

/** Connection builder bound to this module. */
export class DbConnectionBuilder extends PackageDbConnectionBuilder {}

/** A connection to a database running the chat module. */
export class DbConnection extends DbConnectionImpl {
  /** A builder: `DbConnection.builder().withUri(...).withDatabaseName(...).build()`. */
  static builder = () => new DbConnectionBuilder(REMOTE_MODULE, config => new DbConnection(config));

  subscriptionBuilder = () => new SubscriptionBuilder(this);
}
