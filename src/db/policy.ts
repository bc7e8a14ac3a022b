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
  /** The newest second-admin approval of the revision, and whether an activation has used it. */
  readonly approvedBy: string | null;
  readonly approvedAt: Date | null;
  readonly approvalUsed: boolean;
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
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('policy_approvals as p')
          .select(['p.approved_by', 'p.approved_at', 'p.used_by_activation'])
          .whereRef('p.revision', '=', 'b.revision')
          .orderBy('p.approval_id', 'desc')
          .limit(1)
          .as('p'),
      (join) => join.onTrue(),
    )
    .select(['b.revision', 'b.sha256', 'b.signed_by', 'b.staged_by', 'b.staged_at', 'a.activated_by', 'a.activated_at', 'p.approved_by', 'p.approved_at', 'p.used_by_activation'])
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
    approvedBy: r.approved_by ?? null,
    approvedAt: r.approved_at ?? null,
    approvalUsed: r.used_by_activation !== null && r.used_by_activation !== undefined,
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
  await db
    .insertInto('policy_approvals')
    .values({
      revision: approval.revision,
      sha256: approval.sha256,
      against_activation: approval.againstActivation,
      approved_by: approval.approvedBy,
    })
    .execute();
}

/**
 * Locks one unused approval of these bytes against `againstActivation` by someone other than
 * `activator`, until the transaction ends; undefined when there is none.
 */
export async function lockUnusedApproval(
  db: Db,
  approval: Omit<PolicyApproval, 'approvedBy'> & { activator: string },
): Promise<{ approvalId: string; approvedBy: string } | undefined> {
  const row = await db
    .selectFrom('policy_approvals')
    .select((eb) => [eb.cast<string>('approval_id', 'text').as('approval_id'), 'approved_by'])
    .where('revision', '=', approval.revision)
    .where('sha256', '=', approval.sha256)
    .where('used_by_activation', 'is', null)
    .where((eb) => eb('against_activation', 'is not distinct from', eb.cast<string | null>(eb.val(approval.againstActivation), 'bigint')))
    .where('approved_by', '<>', approval.activator)
    .orderBy('approval_id')
    .limit(1)
    .forUpdate()
    .executeTakeFirst();
  return row ? { approvalId: row.approval_id, approvedBy: row.approved_by } : undefined;
}

export async function markApprovalUsed(db: Db, approvalId: string, activationId: string): Promise<void> {
  await db.updateTable('policy_approvals').set({ used_by_activation: activationId }).where('approval_id', '=', approvalId).execute();
}
