// Writes policies/build/capabilities.json: the opa CLI's current capabilities reduced to the builtins
// that OPA compiles natively into WebAssembly (internal/compiler/wasm/wasm.go, builtinsFunctions),
// plus the compiler-internal ones. A policy using anything else fails `opa build`, instead of
// loading fine and throwing inside the vault when that branch first runs.
// Usage: node scripts/pin-capabilities.mjs /path/to/opa
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const WASM_NATIVE = [
  'plus', 'minus', 'mul', 'div', 'abs', 'round', 'ceil', 'floor', 'rem',
  'array.concat', 'array.slice', 'and', 'or', 'intersection', 'union',
  'is_number', 'is_string', 'is_boolean', 'is_array', 'is_set', 'is_object', 'is_null', 'type_name',
  'bits.or', 'bits.and', 'bits.negate', 'bits.xor', 'bits.lsh', 'bits.rsh',
  'count', 'sum', 'product', 'max', 'min', 'sort',
  'base64.is_valid', 'base64.decode', 'base64.encode', 'base64url.encode', 'base64url.decode',
  'net.cidr_contains', 'net.cidr_intersects',
  'equal', 'gt', 'gte', 'lt', 'lte', 'neq', 'glob.match',
  'json.marshal', 'json.unmarshal', 'json.remove', 'json.filter',
  'object.filter', 'object.get', 'object.remove', 'object.union',
  'concat', 'format_int', 'indexof', 'substring', 'lower', 'upper', 'contains', 'startswith', 'endswith',
  'split', 'replace', 'strings.replace_n', 'trim', 'trim_left', 'trim_prefix', 'trim_right', 'trim_suffix', 'trim_space',
  'numbers.range', 'to_number', 'walk', 'graph.reachable',
  'regex.is_valid', 'regex.match', 'regex.find_all_string_submatch_n',
];
const COMPILER_INTERNAL = ['eq', 'assign', 'internal.member_2', 'internal.member_3', 'internal.print'];

const opa = process.argv[2] ?? 'opa';
const current = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8' }));
const allowed = new Set([...WASM_NATIVE, ...COMPILER_INTERNAL]);
const builtins = current.builtins.filter((b) => allowed.has(b.name)).sort((a, b) => a.name.localeCompare(b.name));
const missing = [...allowed].filter((name) => !builtins.some((b) => b.name === name));
if (missing.length) console.error(`not in this opa's capabilities (skipped): ${missing.join(', ')}`);
const pinned = {
  builtins,
  future_keywords: current.future_keywords,
  features: current.features,
  wasm_abi_versions: current.wasm_abi_versions ?? [{ version: 1, minor_version: 1 }],
};
fs.writeFileSync(new URL('../policies/build/capabilities.json', import.meta.url), `${JSON.stringify(pinned, null, 2)}\n`);
console.log(`policies/build/capabilities.json: ${builtins.length} builtins`);
