import { createHash } from 'node:crypto';

/**
 * The file digest OPA signs: raw bytes for most files; for JSON files (`*.json`, `.manifest`) the
 * parsed value re-encoded with object keys sorted (byte order) and no whitespace, strings encoded
 * as Go's encoder does with HTML escaping off (v1/bundle/hash.go).
 */
export function opaFileDigest(name: string, content: Buffer): string {
  const hash = createHash('sha256');
  if (isJsonFile(name)) {
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8'));
    } catch {
      return 'unparseable-json';
    }
    hash.update(canonicalJson(value));
  } else {
    hash.update(content);
  }
  return hash.digest('hex');
}

export function isJsonFile(name: string): boolean {
  return name.endsWith('.json') || name === '.manifest' || name.endsWith('/.manifest');
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function goString(value: string): string {
  return JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort(byteOrder)
      .map((k) => `${goString(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return typeof value === 'string' ? goString(value) : JSON.stringify(value);
}
