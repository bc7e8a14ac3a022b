/**
 * Deterministic JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings as Go's
 * encoder writes them with HTML escaping off (U+2028/2029 escaped). It is OPA's bundle digest
 * encoding (v1/bundle/hash.go), and the encoding the audit chain hashes.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort(byteOrder)
      .map((k) => `${goString(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON has no non-finite numbers');
  return JSON.stringify(value ?? null);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const LINE_SEPARATORS = /[\u2028\u2029]/;

function goString(value: string): string {
  const json = JSON.stringify(value);
  // The replacements cost more than the test, and almost no string holds a line separator.
  return LINE_SEPARATORS.test(json) ? json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') : json;
}
