import type { AccessGate } from '../access/index.js';
import type { AuditEventInput, AuditScope, AuditTrail } from '../audit/index.js';
import type { CollectionControls } from '../collection/index.js';
import type { DevTokenMint } from '../console/index.js';
import type { AccessReports, DatasetRequests, DatasetStreams } from '../datasets/index.js';
import type { RecordIngestor, RosterService } from '../ingest/index.js';
import type { PolicyAdmin } from '../policy-admin/index.js';
import type { Erasures, ExposureReports, OwnRecords } from '../subject-rights/index.js';
import type { RetentionJob } from '../retention/index.js';
import type { KekRotation } from '../key-lifecycle/index.js';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly reason?: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, ReadinessCheck>;
}

/** What an operator sees of a running instance: never a key, a token or a connection string. */
export interface InstanceFacts {
  readonly env: 'development' | 'production';
  readonly store: 'embedded' | 'postgres';
  readonly dataDir: string;
  readonly kekId: string;
  readonly aead: string;
  readonly policyRevision: string | undefined;
}

/** Limits the adapters enforce before a service sees the request. */
export interface AdapterSettings {
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  readonly maxBodyBytes: number;
  readonly maxBatchRecords: number;
  /** The record kinds the vault knows (the manifest's schema names them). */
  readonly recordKinds: readonly string[];
  /** How often an agent's event stream gets a heartbeat comment. */
  readonly sseHeartbeatMs: number;
}

/**
 * What an adapter records itself: a failure or a refusal that no service decided (a schema
 * refusal, a body too large, a 500), and the keyed name of an employee for its operator log.
 */
export interface EdgeAudit {
  /** Runs `work` in `scope`; a deny a service durably appends during it sets `scope.denyRecorded`. */
  runInScope<T>(scope: AuditScope, work: () => T): T;
  /** Appends one event in a transaction of its own; throws `ERR_UNAVAILABLE` when it cannot. */
  record(event: AuditEventInput): Promise<void>;
  /** The keyed reference that stands for an employee id in the audit log (`employee_ref`). */
  employeeRef(employeeId: string): string;
}

/**
 * Everything the HTTP API and the command line may call. Built by the composition root
 * (`src/main.ts`); neither adapter can reach the database, the key ring or the token verifier.
 */
export interface VaultServices {
  readonly settings: AdapterSettings;
  readonly access: Pick<AccessGate, 'authenticate'>;
  readonly edgeAudit: EdgeAudit;
  readonly ingest: Pick<RecordIngestor, 'ingest' | 'chunksSealed'>;
  readonly roster: RosterService;
  readonly collection: Pick<
    CollectionControls,
    | 'manifest'
    | 'putManifest'
    | 'pauseEmployee'
    | 'endEmployeePause'
    | 'optOut'
    | 'optIn'
    | 'pauseProgram'
    | 'resumeProgram'
    | 'programStatus'
    | 'consent'
    | 'captureStatus'
    | 'permitKeys'
    | 'eventFeed'
    | 'lastEventId'
    | 'subscribe'
  >;
  readonly datasets: Pick<DatasetRequests, 'request'> & Pick<DatasetStreams, 'openStream' | 'load'> & Pick<AccessReports, 'accessReport'>;
  /** The employees' rights: erasure, their own copy, and who could read them now. */
  readonly subjectRights: Pick<Erasures, 'erase'> & Pick<OwnRecords, 'open'> & Pick<ExposureReports, 'exposure'>;
  readonly policyAdmin: Pick<PolicyAdmin, 'stage' | 'approve' | 'activate' | 'list' | 'diff'>;
  readonly auditTrail: Pick<AuditTrail, 'query' | 'stats' | 'alarms' | 'verify' | 'checkpoints' | 'signCheckpoint'>;
  /** The key hierarchy: KEKs, counts, and rotation (run to the end, or started in the background). */
  readonly keys: Pick<KekRotation, 'status' | 'rotate' | 'rotating'>;
  /** The retention job: its totals since start (for /metrics), and a run now (the CLI). */
  readonly retention: Pick<RetentionJob, 'totals' | 'run'>;
  /** The web console's development sign-in (a token signed with the development key, from loopback only). */
  readonly devTokens: Pick<DevTokenMint, 'available' | 'offeredTo' | 'admit' | 'refuse' | 'mint'>;
  /** Rows of the record store whose ciphertext contains these bytes: a plaintext-leak probe that must find none. */
  readonly leakProbe: { rowsContaining(bytes: Uint8Array): Promise<number> };
  readiness(): Promise<Readiness>;
  facts(): InstanceFacts;
}
