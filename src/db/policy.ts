import { sql } from 'kysely';
import type { Db } from './database.js';

export interface StoredBundle {
  readonly revision: string;
  readonly sha256: string;
  readonly archive: Buffer;
  readonly signedBy: string;
  readonly files: string[];
  readonly stagedBy: string;
  readonly stagedAt: Date;
}

export interface BundleListing {
  readonly revision: string;
  readonly sha256: string;
  readonly signedBy: string;
  readonly stagedBy: string;
  readonly stagedAt: Date;
  readonly lastActivatedBy: string | null;
  readonly lastActivatedAt: Date | null;
  readonly active: boolean;
}

export interface Activation {
  readonly revision: string;
  readonly activatedBy: string;
  readonly activatedAt: Date;
  readonly activationId: string;
}

export async function insertBundle(db: Db, bundle: Omit<StoredBundle, 'stagedAt'>): Promise<void> {
  await db
    .insertInto('policy_bundles')
    .values({
      revision: bundle.revision,
      sha256: bundle.sha256,
      archive: bundle.archive,
      signed_by: bundle.signedBy,
      files: bundle.files,
      staged_by: bundle.stagedBy,
    })
    .execute();
}

export async function findBundle(db: Db, revision: string): Promise<StoredBundle | undefined> {
  const row = await db.selectFrom('policy_bundles').selectAll().where('revision', '=', revision).executeTakeFirst();
  return row
    ? {
        revision: row.revision,
        sha256: row.sha256,
        archive: Buffer.from(row.archive),
        signedBy: row.signed_by,
        files: row.files,
        stagedBy: row.staged_by,
        stagedAt: row.staged_at,
      }
    : undefined;
}

/** The activation in force: the newest one. */
export async function findActiveActivation(db: Db): Promise<Activation | undefined> {
  const row = await db
    .selectFrom('policy_activations')
    .select(['revision', 'activated_by', 'activated_at', 'activation_id'])
    .orderBy('activation_id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { revision: row.revision, activatedBy: row.activated_by, activatedAt: row.activated_at, activationId: String(row.activation_id) } : undefined;
}

export async function insertActivation(db: Db, revision: string, activatedBy: string): Promise<Activation> {
  const row = await db
    .insertInto('policy_activations')
    .values({ revision, activated_by: activatedBy })
    .returning(['revision', 'activated_by', 'activated_at', 'activation_id'])
    .executeTakeFirstOrThrow();
  return { revision: row.revision, activatedBy: row.activated_by, activatedAt: row.activated_at, activationId: String(row.activation_id) };
}

export async function listBundles(db: Db): Promise<BundleListing[]> {
  const active = await findActiveActivation(db);
  const rows = await db
    .selectFrom('policy_bundles as b')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('policy_activations as a')
          .select(['a.activated_by', 'a.activated_at'])
          .whereRef('a.revision', '=', 'b.revision')
          .orderBy('a.activation_id', 'desc')
          .limit(1)
          .as('a'),
      (join) => join.onTrue(),
    )
    .select(['b.revision', 'b.sha256', 'b.signed_by', 'b.staged_by', 'b.staged_at', 'a.activated_by', 'a.activated_at'])
    .orderBy('b.staged_at', 'desc')
    .execute();
  return rows.map((r) => ({
    revision: r.revision,
    sha256: r.sha256,
    signedBy: r.signed_by,
    stagedBy: r.staged_by,
    stagedAt: r.staged_at,
    lastActivatedBy: r.activated_by ?? null,
    lastActivatedAt: r.activated_at ?? null,
    active: r.revision === active?.revision,
  }));
}


export interface PolicyApproval {
  readonly revision: string;
  readonly sha256: string;
  /** The activation in force when the approval was given; null when none was. */
  readonly againstActivation: string | null;
  readonly approvedBy: string;
}

export async function insertApproval(db: Db, approval: PolicyApproval): Promise<void> {
  await sql`insert into policy_approvals (revision, sha256, against_activation, approved_by)
    values (${approval.revision}, ${approval.sha256}, ${approval.againstActivation}, ${approval.approvedBy})`.execute(db);
}

/**
 * Locks one unused approval of these bytes against `againstActivation` by someone other than
 * `activator`, until the transaction ends; undefined when there is none.
 */
export async function lockUnusedApproval(
  db: Db,
  approval: Omit<PolicyApproval, 'approvedBy'> & { activator: string },
): Promise<{ approvalId: string; approvedBy: string } | undefined> {
  const rows = await sql<{ approval_id: string; approved_by: string }>`
    select approval_id::text, approved_by from policy_approvals
    where revision = ${approval.revision} and sha256 = ${approval.sha256} and used_by_activation is null
      and against_activation is not distinct from ${approval.againstActivation}::bigint and approved_by <> ${approval.activator}
    order by approval_id limit 1 for update`.execute(db);
  const row = rows.rows[0];
  return row ? { approvalId: row.approval_id, approvedBy: row.approved_by } : undefined;
}

export async function markApprovalUsed(db: Db, approvalId: string, activationId: string): Promise<void> {
  await sql`update policy_approvals set used_by_activation = ${activationId}::bigint where approval_id = ${approvalId}::bigint`.execute(db);
}
