// A module that mounts a library module (`./tally_lib`) as the submodule `tallies` and calls
// its reducer and procedure through `ctx.as.tallies`.
import { schema, table, t } from 'spacetimedb/server';
import * as tallies from './tally_lib';

const event = table({ public: true }, { id: t.u64().primaryKey().autoInc(), text: t.string() });

const app = schema({ event, tallies });
export default app;

export const add_both = app.reducer({ label: t.string() }, (ctx, { label }) => {
  ctx.db.event.insert({ id: 0n, text: `added ${label}` });
  tallies.addTally(ctx.as.tallies, { label });
});

export const count_through_lib = app.procedure(t.u64(), ctx =>
  tallies.countTallies(ctx.as.tallies, {})
);
