import { createHash } from 'node:crypto';
import { canonicalJson } from '../encoding/canonical-json.js';

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
