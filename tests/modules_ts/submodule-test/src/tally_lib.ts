// A library module, mounted by index.ts under the namespace `tallies`: its table and functions
// are the submodule's own.
import { schema, table, t } from 'spacetimedb/server';

const tally = table({ public: true }, { id: t.u64().primaryKey().autoInc(), label: t.string() });

const tallySchema = schema({ tally });
export default tallySchema;

export const addTally = tallySchema.reducer({ label: t.string() }, (ctx, { label }) => {
  console.info(`addTally: ${label}`);
  ctx.db.tally.insert({ id: 0n, label });
});

export const countTallies = tallySchema.procedure(t.u64(), ctx =>
  ctx.withTx(tx => tx.db.tally.count())
);
