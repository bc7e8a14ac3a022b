import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from '../encoding/canonical-json.js';
import type { AuditRow } from '../db/index.js';

export const GENESIS_HASH = Buffer.alloc(32);

/** The fields an event's hash covers, in the form auditors can recompute (README, "Audit log"). */
export function canonicalEvent(row: Omit<AuditRow, 'prev_hash' | 'hash'>): string {
  return canonicalJson({
    v: 1,
    seq: row.seq,
    event_id: row.event_id,
    occurred_at: row.occurred_at.toISOString(),
    action: row.action,
    decision: row.decision,
    severity: row.severity,
    actor: row.actor,
    actor_roles: row.actor_roles,
    teams: row.teams,
    purpose: row.purpose,
    employee_ref: row.employee_ref,
    policy_revision: row.policy_revision,
    record_count: row.record_count,
    decision_id: row.decision_id,
    details: row.details,
  });
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
