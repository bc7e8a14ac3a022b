import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../encoding/canonical-json.js';
import type { AuditHead, AuditRow } from '../db/index.js';

export const GENESIS_HASH = Buffer.alloc(32);

type EventFields = Omit<AuditRow, 'prev_hash' | 'hash'>;

/**
 * The fields an event's hash covers, in the form auditors can recompute (README, "Audit log"):
 * `canonicalJson` of `{v: 1, ...fields}`. Written out key by key in canonical (byte) order because
 * it runs three times per event (queue MAC, chaining, verify); test/audit/chain.test.ts holds it
 * equal to `canonicalJson`.
 */
export function canonicalEvent(row: EventFields): string {
  return (
    `{"action":${str(row.action)},"actor":${strOrNull(row.actor)},"actor_roles":${strings(row.actor_roles)}` +
    `,"decision":${str(row.decision)},"decision_id":${strOrNull(row.decision_id)},"details":${str(row.details)}` +
    `,"employee_ref":${strOrNull(row.employee_ref)},"event_id":${str(row.event_id)},"occurred_at":${str(row.occurred_at.toISOString())}` +
    `,"policy_revision":${strOrNull(row.policy_revision)},"purpose":${strOrNull(row.purpose)}` +
    `,"record_count":${row.record_count === null ? 'null' : canonicalJson(row.record_count)},"seq":${canonicalJson(row.seq)}` +
    `,"severity":${str(row.severity)},"teams":${strings(row.teams)},"v":1}`
  );
}

const str = (value: string): string => canonicalJson(value);
const strOrNull = (value: string | null): string => (value === null ? 'null' : canonicalJson(value));
const strings = (values: readonly string[]): string => `[${values.map(str).join(',')}]`;

/**
 * The MAC a queued event carries until the sequencer chains it: the event as it will be hashed,
 * without its place in the chain, keyed like the head's MAC.
 */
export function queuedEventMac(key: Uint8Array, row: Omit<EventFields, 'seq'>): Buffer {
  return createHmac('sha256', key).update('activity-vault/audit-queued/v1').update(canonicalEvent({ ...row, seq: 0 }), 'utf8').digest();
}

/** hash(n) = SHA-256(hash(n-1) || canonical(event n)), hash(0) = 32 zero bytes. */
export function chainHash(prevHash: Uint8Array, canonical: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonical, 'utf8').digest();
}

/** The head's MAC, keyed by a KEK-wrapped secret: whoever lacks the KEK cannot move the head. */
export function headMac(key: Uint8Array, seq: number, hash: Uint8Array): Buffer {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  return createHmac('sha256', key).update('activity-vault/audit-head/v1').update(seqBytes).update(hash).digest();
}

/** What a checkpoint signature covers; auditors rebuild these bytes to check it with the public key. */
export function checkpointStatement(seq: number, hashHex: string, signedAt: string, keyId: string): Buffer {
  return Buffer.from(canonicalJson({ v: 1, log: 'activity-vault/audit', seq, hash: hashHex, signed_at: signedAt, key_id: keyId }));
}

/** The head's MAC holds: nobody without the key moved it. */
export function headIsGenuine(key: Uint8Array, head: AuditHead): boolean {
  return timingSafeEqual(Buffer.from(head.mac), headMac(key, head.seq, head.hash));
}

/** A queued event's MAC holds: it is as the vault queued it. */
export function queuedEventIsGenuine(key: Uint8Array, event: Omit<EventFields, 'seq'>, mac: Uint8Array): boolean {
  return timingSafeEqual(Buffer.from(mac), queuedEventMac(key, event));
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
