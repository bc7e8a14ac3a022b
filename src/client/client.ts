import { parseObject, refusalOf, unreachable, VaultClientError } from './errors.js';
import type {
  AccessReport,
  ActivateResult,
  ApproveResult,
  AuditCheckpoints,
  AuditEventsQuery,
  AuditPage,
  CaptureStatus,
  Checkpoint,
  ConsentView,
  EmployeeCaptureState,
  ErasureReceipt,
  Exposure,
  ManifestView,
  ManifestWrite,
  ProgramStatus,
  DatasetLease,
  DatasetRecord,
  DatasetRequestBody,
  IngestResult,
  OwnRecord,
  PolicyBundleListing,
  RecordSubmission,
  RosterEntry,
  RosterResult,
  StageResult,
  VerifyResult,
} from './types.js';

export interface VaultClientOptions {
  readonly url: string;
  /** A bearer token, or a function that returns a fresh one (called before every request). */
  readonly token: string | (() => string | Promise<string>);
  /** Attempts after a dropped connection or a 5xx before giving up; resets when records arrive. */
  readonly maxRetries?: number;
  readonly retryDelayMs?: number;
  readonly fetch?: typeof fetch;
}

interface Call {
  readonly query?: URLSearchParams;
  readonly json?: unknown;
  readonly gzip?: Uint8Array;
  /** The one status that means success; default: any 2xx. */
  readonly expect?: number;
}

/**
 * The vault's HTTP API for training jobs, auditors, the security team and capture agents. Every
 * refusal is a {@link VaultClientError} carrying the vault's error code; a vault that cannot be
 * reached is the code `unavailable`. `records` resumes after a dropped connection from the last
 * record received, so every record arrives exactly once.
 *
 * @example
 * ```ts
 * import { VaultClient } from 'activity-vault';
 * const vault = new VaultClient({ url: 'https://vault.internal', token: process.env.VAULT_TOKEN! });
 * const lease = await vault.requestDataset({ purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z' });
 * for await (const record of vault.records(lease.dataset_id)) train(record.subject, record.payload);
 * ```
 */
export class VaultClient {
  readonly #options: VaultClientOptions;
  readonly #fetch: typeof fetch;

  constructor(options: VaultClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
  }

  async #headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    return { authorization: `Bearer ${token}`, ...extra };
  }

  async #send(method: string, url: URL, headers: Record<string, string>, body?: string | Uint8Array): Promise<Response> {
    try {
      return await this.#fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
    } catch (err) {
      throw unreachable(this.#options.url, err);
    }
  }

  async #call<T>(method: string, route: string, call: Call = {}): Promise<T> {
    const url = new URL(route, this.#options.url);
    if (call.query) url.search = call.query.toString();
    const type = call.gzip ? 'application/gzip' : call.json !== undefined ? 'application/json' : undefined;
    const body = call.gzip ?? (call.json === undefined ? undefined : JSON.stringify(call.json));
    const response = await this.#send(method, url, await this.#headers(type ? { 'content-type': type } : {}), body);
    if (call.expect === undefined ? !response.ok : response.status !== call.expect) throw await refusalOf(response);
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw unreachable(this.#options.url, err);
    }
    const parsed = text === '' ? {} : parseObject(text);
    if (!parsed) throw new VaultClientError(response.status, 'http_error', `the answer to ${method} ${url.pathname} is not a JSON object: is ${this.#options.url} a vault?`);
    return parsed as T;
  }

  /** `POST /v1/datasets`; a deny throws a {@link VaultClientError} with the reasons and decision id in `body`. */
  async requestDataset(request: DatasetRequestBody): Promise<DatasetLease> {
    return this.#call('POST', '/v1/datasets', { json: request, expect: 201 });
  }

  /**
   * The dataset's records in stream order, from `after` when given; resumes by itself after a
   * dropped connection. `shard` streams one of `of` disjoint parts of the dataset (split by
   * subject), so that N workers read it in parallel; together the parts are the whole dataset.
   *
   * @example
   * const part = vault.records(lease.dataset_id, { shard: { index: rank, of: worldSize } });
   */
  async *records<P = unknown>(datasetId: string, options: { after?: string; shard?: { index: number; of: number } } = {}): AsyncGenerator<DatasetRecord<P>> {
    let cursor = options.after;
    let failures = 0;
    const maxRetries = this.#options.maxRetries ?? 5;
    for (;;) {
      const url = new URL(`/v1/datasets/${encodeURIComponent(datasetId)}/records`, this.#options.url);
      if (cursor) url.searchParams.set('after', cursor);
      if (options.shard) {
        url.searchParams.set('shard', String(options.shard.index));
        url.searchParams.set('of', String(options.shard.of));
      }
      let response: Response;
      try {
        response = await this.#send('GET', url, await this.#headers());
      } catch (err) {
        if (++failures > maxRetries) throw err;
        await this.#pause(failures);
        continue;
      }
      if (response.status >= 500 && failures < maxRetries) {
        failures++;
        await response.body?.cancel();
        await this.#pause(failures);
        continue;
      }
      if (response.status !== 200 || !response.body) throw await refusalOf(response);
      try {
        for await (const record of ndjsonLines<DatasetRecord<P>>(response.body)) {
          cursor = record.cursor;
          failures = 0;
          yield record;
        }
        return;
      } catch (err) {
        if (err instanceof SyntaxError) throw err;
        if (++failures > maxRetries) throw unreachable(this.#options.url, err);
        await this.#pause(failures);
      }
    }
  }

  /** `GET /v1/employees/{id}/access-report`: every dataset that reached the employee's records. */
  async accessReport<R = AccessReport>(employeeId: string): Promise<R> {
    return this.#call('GET', `/v1/employees/${encodeURIComponent(employeeId)}/access-report`);
  }

  /** `POST /v1/employees/{id}/erase` (privacy officer): crypto-shredding; answers the signed receipt. Erasing twice is harmless. */
  async eraseEmployee(employeeId: string): Promise<ErasureReceipt> {
    return this.#call('POST', `/v1/employees/${encodeURIComponent(employeeId)}/erase`);
  }

  /** `GET /v1/employees/{id}/records`: the employee's own records, decrypted, oldest first, optionally within [from, to). */
  async *ownRecords<P = unknown>(employeeId: string, window: { from?: string; to?: string } = {}): AsyncGenerator<OwnRecord<P>> {
    const url = new URL(`/v1/employees/${encodeURIComponent(employeeId)}/records`, this.#options.url);
    for (const [name, value] of Object.entries(window)) if (value !== undefined) url.searchParams.set(name, value);
    const response = await this.#send('GET', url, await this.#headers());
    if (response.status !== 200 || !response.body) throw await refusalOf(response);
    try {
      yield* ndjsonLines<OwnRecord<P>>(response.body);
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof TypeError) throw err;
      throw unreachable(this.#options.url, err);
    }
  }

  /** `GET /v1/employees/{id}/exposure`: which teams could be granted the employee's records now, and the open leases that hold them. */
  async exposure(employeeId: string): Promise<Exposure> {
    return this.#call('GET', `/v1/employees/${encodeURIComponent(employeeId)}/exposure`);
  }

  /** `PUT /v1/employees`: enrols or updates employees; one bad entry refuses the whole batch. */
  async upsertRoster(employees: readonly RosterEntry[]): Promise<RosterResult> {
    return this.#call('PUT', '/v1/employees', { json: { employees } });
  }

  /** `POST /v1/records`: up to 5,000 records, each accepted, dropped or rejected on its own. */
  async ingestRecords(records: readonly RecordSubmission[]): Promise<IngestResult> {
    return this.#call('POST', '/v1/records', { json: { records } });
  }

  /** `GET /v1/audit/events`: one page of the access log, newest first; `next_cursor` continues it. */
  async auditEvents(query: AuditEventsQuery = {}): Promise<AuditPage> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    return this.#call('GET', '/v1/audit/events', { query: params });
  }

  /** `GET /v1/audit/verify`: the hash chain checked end to end; a broken chain is `ok: false`, not an error. */
  async verifyAudit(): Promise<VerifyResult> {
    return this.#call('GET', '/v1/audit/verify');
  }

  /** `GET /v1/audit/checkpoints`: the newest signed checkpoints and the public key to check them with. */
  async auditCheckpoints(): Promise<AuditCheckpoints> {
    return this.#call('GET', '/v1/audit/checkpoints');
  }

  /** `POST /v1/audit/checkpoints`: signs a checkpoint of the newest event now; `null` while the log is empty. */
  async signCheckpoint(): Promise<Checkpoint | null> {
    const created = await this.#call<Partial<Checkpoint>>('POST', '/v1/audit/checkpoints');
    return created.seq === undefined ? null : (created as Checkpoint);
  }

  /** `POST /v1/policy/bundles`: stages a signed bundle (the `opa build` output) and diffs it against the active one. */
  async stagePolicyBundle(bundle: Uint8Array): Promise<StageResult> {
    return this.#call('POST', '/v1/policy/bundles', { gzip: bundle });
  }

  /** `POST /v1/policy/bundles/{revision}/approve`: a second security admin's approval of growth. */
  async approvePolicy(revision: string): Promise<ApproveResult> {
    return this.#call('POST', `/v1/policy/bundles/${encodeURIComponent(revision)}/approve`);
  }

  /** `POST /v1/policy/bundles/{revision}/activate`; a failed check is `policy_rejected` with the `violations`. */
  async activatePolicy(revision: string): Promise<ActivateResult> {
    return this.#call('POST', `/v1/policy/bundles/${encodeURIComponent(revision)}/activate`);
  }

  /** `GET /v1/policy/bundles`: staged revisions, who staged and activated them, which is active. */
  async policyBundles(): Promise<PolicyBundleListing> {
    return this.#call('GET', '/v1/policy/bundles');
  }

  /** `POST /v1/employees/{id}/pause`: no capture for `minutes` (1-120, default 30) from now. */
  async pauseEmployee(employeeId: string, minutes?: number): Promise<EmployeeCaptureState> {
    return this.#call('POST', `/v1/employees/${encodeURIComponent(employeeId)}/pause`, { json: minutes === undefined ? {} : { minutes } });
  }

  /** `DELETE /v1/employees/{id}/pause`: ends the running pause now. */
  async endEmployeePause(employeeId: string): Promise<EmployeeCaptureState> {
    return this.#call('DELETE', `/v1/employees/${encodeURIComponent(employeeId)}/pause`);
  }

  /** `POST /v1/employees/{id}/opt-out`, or `DELETE` it (`optedOut: false`) to opt back in. */
  async setOptOut(employeeId: string, optedOut: boolean): Promise<EmployeeCaptureState> {
    return this.#call(optedOut ? 'POST' : 'DELETE', `/v1/employees/${encodeURIComponent(employeeId)}/opt-out`);
  }

  /** `GET /v1/employees/{id}/consent`. */
  async consent(employeeId: string): Promise<ConsentView> {
    return this.#call('GET', `/v1/employees/${encodeURIComponent(employeeId)}/consent`);
  }

  /** `POST /v1/program/pause`: the kill switch (`collection`) or the export freeze (`exports`). */
  async pauseProgram(reason: string, scope: 'collection' | 'exports' = 'collection'): Promise<ProgramStatus> {
    return this.#call('POST', '/v1/program/pause', { json: { reason, scope } });
  }

  /** `POST /v1/program/resume`; for exports the first call only requests it (`resumed: false`) and a second person's completes it. */
  async resumeProgram(reason: string, scope: 'collection' | 'exports' = 'collection'): Promise<ProgramStatus & { resumed: boolean }> {
    return this.#call('POST', '/v1/program/resume', { json: { reason, scope } });
  }

  async programStatus(): Promise<ProgramStatus> {
    return this.#call('GET', '/v1/program/status');
  }

  async collectionManifest(): Promise<ManifestView> {
    return this.#call('GET', '/v1/collection/manifest');
  }

  /** `PUT /v1/collection/manifest`; with `base_version` in the document, refused (409) unless that version is in force. */
  async putCollectionManifest(document: unknown): Promise<ManifestWrite> {
    return this.#call('PUT', '/v1/collection/manifest', { json: document });
  }

  /** `GET /v1/collection/status`: capture now or not, and a 60 s permit while capture is allowed. */
  async collectionStatus(employeeId: string): Promise<CaptureStatus> {
    return this.#call('GET', '/v1/collection/status', { query: new URLSearchParams({ employee_id: employeeId }) });
  }

  #pause(attempt: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, (this.#options.retryDelayMs ?? 200) * 2 ** (attempt - 1)));
  }
}

/** Parsed NDJSON lines of a response body; a body that ends inside a line is a `TypeError`. */
async function* ndjsonLines<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n', start)) {
      const line = pending.slice(start, newline);
      start = newline + 1;
      if (line !== '') yield JSON.parse(line) as T;
    }
    pending = pending.slice(start);
  }
  if (pending !== '') throw new TypeError('the stream ended inside a record');
}
