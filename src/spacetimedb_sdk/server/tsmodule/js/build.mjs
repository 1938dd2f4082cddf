// Bundle a SpacetimeDB TypeScript module with esbuild, the way the official CLI's
// `spacetime build` prepares one for its V8 host (crates/cli/src/tasks/javascript.rs):
// one ES module, the `production`/`import`/`default` export conditions and no Node built-ins
// (platform "neutral"), `process.env.NODE_ENV` set to "production", an inline source map.
// Two differences, both for Node 20: `target: node20` lowers `using` declarations, and the
// virtual modules `spacetime:sys@2.x` become small shims that read the host's implementation
// from a global (host.mjs installs it before importing the bundle).
//
// Usage: node build.mjs JSON, with {esbuild, entry, outfile, cwd, nodePaths}.  Prints one JSON
// object on stdout: {ok, errors: [text], warnings: [text], inputs: [absolute paths]}.
import { createRequire } from 'node:module';
import path from 'node:path';

const options = JSON.parse(process.argv[2]);
const require = createRequire(path.join(options.esbuild, 'package.json'));
const esbuild = require(options.esbuild);

const SYS_EXPORTS = {
  '2.0': [
    'table_id_from_name',
    'index_id_from_name',
    'datastore_table_row_count',
    'datastore_table_scan_bsatn',
    'datastore_index_scan_range_bsatn',
    'row_iter_bsatn_advance',
    'row_iter_bsatn_close',
    'datastore_insert_bsatn',
    'datastore_update_bsatn',
    'datastore_delete_by_index_scan_range_bsatn',
    'datastore_delete_all_by_eq_bsatn',
    'volatile_nonatomic_schedule_immediate',
    'console_log',
    'console_timer_start',
    'console_timer_end',
    'identity',
    'get_jwt_payload',
    'procedure_http_request',
    'procedure_start_mut_tx',
    'procedure_commit_mut_tx',
    'procedure_abort_mut_tx',
    'datastore_index_scan_point_bsatn',
    'datastore_delete_by_index_scan_point_bsatn',
    'register_hooks',
  ],
  '2.1': ['datastore_clear'],
};

const sysVersions = new Set();
const errors = [];

const sysPlugin = {
  name: 'spacetime-sys',
  setup(build) {
    build.onResolve({ filter: /^spacetime:sys/ }, args => {
      const version = args.path.slice('spacetime:sys@'.length);
      if (!(version in SYS_EXPORTS)) {
        return {
          errors: [
            {
              text: `the module imports ${args.path}; this local server implements spacetime:sys@2.0 and spacetime:sys@2.1 (npm spacetimedb 2.x)`,
            },
          ],
        };
      }
      sysVersions.add(version);
      return { path: version, namespace: 'spacetime-sys' };
    });
    build.onLoad({ filter: /.*/, namespace: 'spacetime-sys' }, args => {
      const lines = ["const sys = globalThis[Symbol.for('spacetimedb-py.sys')];"];
      if (args.path === '2.0') lines.push('export const moduleHooks = sys.moduleHooks;');
      for (const name of SYS_EXPORTS[args.path]) lines.push(`export const ${name} = sys.${name};`);
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

async function main() {
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [options.entry],
      outfile: options.outfile,
      absWorkingDir: options.cwd,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      conditions: ['production'],
      resolveExtensions: ['.ts', '.tsx', '.mts', '.mjs', '.js', '.cjs', '.json'],
      nodePaths: options.nodePaths,
      target: 'node20',
      sourcemap: 'inline',
      define: { 'process.env.NODE_ENV': '"production"' },
      metafile: true,
      logLevel: 'silent',
      legalComments: 'none',
      plugins: [sysPlugin],
    });
  } catch (e) {
    if (Array.isArray(e.errors) && e.errors.length) {
      // esbuild suggests bundling for Node when an import names a Node built-in; a SpacetimeDB
      // module cannot use those (its host is V8 without Node), so say that instead.
      const messages = e.errors.map(m => {
        if (!/built into node/.test(m.notes.map(n => n.text).join(' '))) return m;
        return {
          ...m,
          notes: [{ text: `"${m.text.match(/"(.*)"/)?.[1] ?? 'it'}" is a Node.js built-in module: SpacetimeDB runs modules in V8 without Node's built-ins, so a module cannot import them` }],
        };
      });
      const text = await esbuild.formatMessages(messages, { kind: 'error', color: false });
      errors.push(...text.map(t => t.trim()));
    } else {
      errors.push(String(e && e.message ? e.message : e));
    }
  }
  let warnings = [];
  let inputs = [];
  if (result) {
    warnings = (await esbuild.formatMessages(result.warnings, { kind: 'warning', color: false })).map(
      t => t.trim()
    );
    inputs = Object.keys(result.metafile.inputs)
      .filter(p => !p.startsWith('spacetime-sys:'))
      .map(p => path.resolve(options.cwd, p));
    const output = Object.values(result.metafile.outputs).find(o => o.entryPoint !== undefined);
    const majors = new Set([...sysVersions].map(v => v.split('.')[0]));
    if (sysVersions.size === 0) {
      errors.push(
        "the module doesn't import the `spacetimedb/server` package at all: without it, it cannot talk to the SpacetimeDB host"
      );
    } else if (majors.size > 1) {
      errors.push('the module pulls in 2 different versions of the `spacetimedb/server` package');
    } else if (!output || !output.exports.includes('default')) {
      errors.push("the module doesn't export its schema: end it with `export default schema(...);`");
    }
  }
  process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors, warnings, inputs }));
}

await main();
