// The module bench/ts_host.py measures in TypeScript; bench/_ts_host_module.py is the same
// module in Python.  `insert_item` is one insert, `rename_item` a point lookup and an update,
// `scan_items` reads every row.
import { schema, table, t } from 'spacetimedb/server';

const item = table(
  { name: 'item', public: true },
  { id: t.u32().primaryKey(), owner: t.u32(), name: t.string() }
);

const bench = schema({ item });
export default bench;

export const insert_item = bench.reducer(
  { id: t.u32(), owner: t.u32(), name: t.string() },
  (ctx, { id, owner, name }) => {
    ctx.db.item.insert({ id, owner, name });
  }
);

export const rename_item = bench.reducer({ id: t.u32(), name: t.string() }, (ctx, { id, name }) => {
  const found = ctx.db.item.id.find(id);
  if (found) ctx.db.item.id.update({ ...found, name });
});

export const scan_items = bench.reducer(ctx => {
  let owners = 0;
  for (const row of ctx.db.item.iter()) owners += row.owner;
  if (owners < 0) throw new Error('unreachable');
});
