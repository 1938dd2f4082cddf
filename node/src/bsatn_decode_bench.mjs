// The official TypeScript decoder's side of bench/bsatn_decode.py.
//
// Usage: node node/src/bsatn_decode_bench.mjs SPEC.json
//
// SPEC.json: {"repetitions": 5, "warmup": 2, "cases": [{"name": "...",
//   "type": <SATS-JSON AlgebraicType>, "typespace": [<SATS-JSON AlgebraicType>...],
//   "data": "/path/rows.bin", "rows": 100000, "sample_every": 100}]}
// The data file is a BsatnRowList's rowsData: rows back to back, no offsets.
//
// Prints one JSON object on stdout: {"node": "v20…", "package": "spacetimedb@2.10.1",
//   "cases": [{"name", "rows", "best_seconds", "rows_per_second", "samples": [[index, rendering]…]}]}
// The rendering is the canonical JSON that bench/bsatn_decode.py also produces from our
// decoder's values, so the benchmark can check that both decoders read the same rows.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { AlgebraicType, BinaryReader } from 'spacetimedb';

// The package's exports map hides package.json, so read it by path.
const PACKAGE_JSON = new URL('../node_modules/spacetimedb/package.json', import.meta.url);

/** Converts the server's SATS-JSON form of a type into the package's AlgebraicType. */
export function typeFromSatsJson(json) {
  const keys = Object.keys(json);
  if (keys.length !== 1) {
    throw new Error(`SATS-JSON type must have exactly one key, got ${JSON.stringify(json)}`);
  }
  const tag = keys[0];
  const payload = json[tag];
  switch (tag) {
    case 'Ref':
      return AlgebraicType.Ref(payload);
    case 'Array':
      return AlgebraicType.Array(typeFromSatsJson(payload));
    case 'Product':
      return AlgebraicType.Product({ elements: payload.elements.map(memberFromSatsJson) });
    case 'Sum':
      return AlgebraicType.Sum({ variants: payload.variants.map(memberFromSatsJson) });
    default:
      if (!(tag in AlgebraicType) || typeof AlgebraicType[tag] !== 'object') {
        throw new Error(`unknown SATS-JSON type tag ${tag}`);
      }
      return AlgebraicType[tag];
  }
}

function memberFromSatsJson(member) {
  const name = 'some' in member.name ? member.name.some : undefined;
  return { name, algebraicType: typeFromSatsJson(member.algebraic_type) };
}

const SPECIAL_PRODUCT_FIELDS = new Set([
  '__identity__',
  '__connection_id__',
  '__uuid__',
  '__timestamp_micros_since_unix_epoch__',
  '__time_duration_micros__',
]);

function floatBitsHex(value, bytes) {
  const view = new DataView(new ArrayBuffer(bytes));
  if (bytes === 4) view.setFloat32(0, value, true);
  else view.setFloat64(0, value, true);
  return Buffer.from(view.buffer).toString('hex');
}

function resolve(ty, typespace) {
  while (ty.tag === 'Ref') ty = typespace.types[ty.value];
  return ty;
}

/**
 * Renders a decoded value as canonical JSON, led by its type. Must stay in step with
 * `render` in bench/bsatn_decode.py: ints as decimal strings, floats as their
 * little-endian bit patterns in hex (exact, and immune to printing differences), bytes as
 * hex, products as objects, sums as {variant: payload}, options as {some: v} / {none: []}.
 */
export function render(ty, value, typespace) {
  ty = resolve(ty, typespace);
  switch (ty.tag) {
    case 'Bool':
    case 'String':
      return value;
    case 'F32':
      return floatBitsHex(value, 4);
    case 'F64':
      return floatBitsHex(value, 8);
    case 'Array': {
      const elem = resolve(ty.value, typespace);
      if (elem.tag === 'U8') return Buffer.from(value).toString('hex');
      return value.map(v => render(elem, v, typespace));
    }
    case 'Product':
      return renderProduct(ty.value, value, typespace);
    case 'Sum':
      return renderSum(ty.value, value, typespace);
    default:
      // every integer width, whether the package gives a number or a bigint
      return String(value);
  }
}

function renderProduct(product, value, typespace) {
  const { elements } = product;
  if (elements.length === 1 && SPECIAL_PRODUCT_FIELDS.has(elements[0].name)) {
    const field = elements[0].name;
    return { [field]: String(value[field]) };
  }
  const out = {};
  for (const { name, algebraicType } of elements) {
    out[name] = render(algebraicType, value[name], typespace);
  }
  return out;
}

function renderSum(sum, value, typespace) {
  const names = sum.variants.map(v => v.name);
  if (names.length === 2 && names[0] === 'some' && names[1] === 'none') {
    return value === undefined
      ? { none: {} }
      : { some: render(sum.variants[0].algebraicType, value, typespace) };
  }
  if (names.length === 2 && names[0] === 'ok' && names[1] === 'err') {
    return 'ok' in value
      ? { ok: render(sum.variants[0].algebraicType, value.ok, typespace) }
      : { err: render(sum.variants[1].algebraicType, value.err, typespace) };
  }
  const variant = sum.variants.find(v => v.name === value.tag);
  if (variant === undefined) throw new Error(`decoded sum has unknown tag ${value.tag}`);
  return { [value.tag]: render(variant.algebraicType, value.value, typespace) };
}

// The SDK's own BsatnRowList loop (#parseRowList in db_connection_impl.ts): one reader over
// rowsData, deserialize until nothing remains.
function decodeRows(deserializeRow, reader, buffer) {
  reader.reset(buffer);
  const rows = [];
  while (reader.remaining > 0) rows.push(deserializeRow(reader));
  return rows;
}

function runCase(spec, repetitions, warmup) {
  const typespace = { types: spec.typespace.map(typeFromSatsJson) };
  const rowType = typeFromSatsJson(spec.type);
  const deserializeRow = AlgebraicType.makeDeserializer(rowType, typespace);
  const file = readFileSync(spec.data);
  const buffer = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const reader = new BinaryReader(new Uint8Array());

  for (let i = 0; i < warmup; i++) decodeRows(deserializeRow, reader, buffer);
  let best = Infinity;
  let rows = [];
  for (let i = 0; i < repetitions; i++) {
    rows = []; // hold one result at a time, as the Python side does
    const start = process.hrtime.bigint();
    rows = decodeRows(deserializeRow, reader, buffer);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (seconds < best) best = seconds;
  }
  if (rows.length !== spec.rows) {
    throw new Error(`${spec.name}: decoded ${rows.length} rows, expected ${spec.rows}`);
  }
  const every = spec.sample_every ?? 100;
  const samples = [];
  for (let i = 0; i < rows.length; i += every)
    samples.push([i, render(rowType, rows[i], typespace)]);
  const last = rows.length - 1;
  if (last >= 0 && last % every !== 0) samples.push([last, render(rowType, rows[last], typespace)]);
  return {
    name: spec.name,
    rows: rows.length,
    best_seconds: best,
    rows_per_second: rows.length / best,
    samples,
  };
}

function main() {
  const specPath = process.argv[2];
  if (!specPath) {
    process.stderr.write('usage: node bsatn_decode_bench.mjs SPEC.json\n');
    process.exit(2);
  }
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const repetitions = spec.repetitions ?? 5;
  const warmup = spec.warmup ?? 2;
  const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8'));
  const cases = spec.cases.map(c => runCase(c, repetitions, warmup));
  process.stdout.write(
    JSON.stringify({ node: process.version, package: `spacetimedb@${version}`, cases }) + '\n',
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
