// The quickstart-chat module in TypeScript: the same schema and reducers as the Python module in
// ../quickstart-chat/module.py (a public `user` table keyed by identity with an optional name and
// an online flag, a public `message` table; `set_name` and `send_message` reject empty input;
// connecting and disconnecting keep `user.online` current).
//
// Serve it with `spacetimedb-py serve examples/quickstart-chat-ts`, or publish it to SpacetimeDB
// with `spacetime publish`: the same source runs on both.
import { schema, table, t, SenderError } from 'spacetimedb/server';

const user = table(
  { name: 'user', public: true },
  {
    identity: t.identity().primaryKey(),
    name: t.option(t.string()),
    online: t.bool(),
  }
);

const message = table(
  { name: 'message', public: true },
  {
    sender: t.identity(),
    sent: t.timestamp(),
    text: t.string(),
  }
);

const chat = schema({ user, message });
export default chat;

function validateName(name: string): string {
  if (!name) throw new SenderError('Names must not be empty');
  return name;
}

function validateMessage(text: string): string {
  if (!text) throw new SenderError('Messages must not be empty');
  return text;
}

export const set_name = chat.reducer({ name: t.string() }, (ctx, { name }) => {
  const valid = validateName(name);
  const found = ctx.db.user.identity.find(ctx.sender);
  if (!found) throw new SenderError('Cannot set name for unknown user');
  console.info(`User ${ctx.sender.toHexString()} sets name to ${valid}`);
  ctx.db.user.identity.update({ ...found, name: valid });
});

export const send_message = chat.reducer({ text: t.string() }, (ctx, { text }) => {
  const valid = validateMessage(text);
  console.info(`User ${ctx.sender.toHexString()}: ${valid}`);
  ctx.db.message.insert({ sender: ctx.sender, sent: ctx.timestamp, text: valid });
});

export const init = chat.init(_ctx => {
  // Called when the module is first published; nothing to set up.
});

export const identity_connected = chat.clientConnected(ctx => {
  const found = ctx.db.user.identity.find(ctx.sender);
  if (found) {
    // A returning user: mark online, keep name and identity.
    ctx.db.user.identity.update({ ...found, online: true });
  } else {
    ctx.db.user.insert({ identity: ctx.sender, name: undefined, online: true });
  }
});

export const identity_disconnected = chat.clientDisconnected(ctx => {
  const found = ctx.db.user.identity.find(ctx.sender);
  if (found) {
    ctx.db.user.identity.update({ ...found, online: false });
  } else {
    // Unreachable in practice: a client cannot disconnect without connecting first.
    console.warn(`Disconnect event for unknown user with identity ${ctx.sender.toHexString()}`);
  }
});
