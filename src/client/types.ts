import type { AuditPage, Checkpoint, CheckpointKey, VerifyResult } from '../audit/index.js';
import type { AccessReport, DatasetGrant } from '../datasets/index.js';
import type { DatasetRequestJson } from '../model/index.js';
import type { IngestResult, RosterEntry, RosterResult } from '../ingest/index.js';
import type { ActivateResult, ApproveResult, StageResult } from '../policy-admin/index.js';
import type { CaptureStatus, ConsentView, EmployeeCaptureState, ManifestDiff, ManifestView, ProgramStatus } from '../collection/index.js';
import type { ErasureReceipt, Exposure } from '../subject-rights/index.js';

export type { CaptureStatus, ConsentView, EmployeeCaptureState, ManifestView, ProgramStatus, ErasureReceipt, Exposure };

/** `PUT /v1/collection/manifest`: the version in force after the write, and what changed. */
export interface ManifestWrite {
  readonly version: number;
  readonly unchanged: boolean;
  readonly diff: ManifestDiff | null;
}

export type { AccessReport, ActivateResult, ApproveResult, AuditPage, Checkpoint, IngestResult, RosterEntry, RosterResult, StageResult, VerifyResult };

export type DatasetRequestBody = DatasetRequestJson;

/** The lease a granted request answers with (`201` of `POST /v1/datasets`). */
export type DatasetLease = DatasetGrant;

export interface DatasetRecord<P = unknown> {
  readonly cursor: string;
  /** A pseudonym of the employee, stable within this dataset only. */
  readonly subject: string;
  readonly captured_at: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly payload: P;
}

/** One of the employee's own records (`GET /v1/employees/{id}/records`), decrypted. */
export interface OwnRecord<P = unknown> {
  readonly event_id: string;
  readonly captured_at: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly categories?: string[];
  readonly payload: P;
}

/** One record as a capture agent sends it; the vault checks each on its own. */
export interface RecordSubmission {
  readonly event_id: string;
  readonly employee_id: string;
  readonly captured_at: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly sensitivity?: number;
}

/** Filters of `GET /v1/audit/events`, named as on the wire; every one optional. */
export interface AuditEventsQuery {
  readonly actor?: string;
  readonly team?: string;
  readonly employee_id?: string;
  readonly action?: string;
  readonly decision?: 'allow' | 'deny' | 'info' | 'error';
  /** RFC 3339. */
  readonly from?: string;
  readonly to?: string;
  /** Events per page, 1-1000. */
  readonly limit?: number;
  /** `next_cursor` of the previous page. */
  readonly cursor?: string;
}

export interface AuditCheckpoints {
  readonly public_key: CheckpointKey;
  readonly checkpoints: Checkpoint[];
}

export interface PolicyBundleListing {
  readonly active: string | null;
  readonly bundles: Array<{
    readonly revision: string;
    readonly sha256: string;
    readonly signed_by: string;
    readonly staged_by: string;
    readonly staged_at: string;
    readonly activated_by: string | null;
    readonly activated_at: string | null;
    readonly active: boolean;
    /** The second security admin whose approval is the newest for this revision, if any. */
    readonly approved_by: string | null;
    readonly approved_at: string | null;
    /** Whether an activation used that approval (an approval counts once). */
    readonly approval_used: boolean;
  }>;
}
