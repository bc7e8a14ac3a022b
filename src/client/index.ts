/**
 * A client for training jobs: request a dataset, then iterate its records; a dropped connection
 * resumes from the last record received, so every record arrives exactly once.
 *
 * @example
 * ```ts
 * import { VaultClient } from 'activity-vault';
 * const vault = new VaultClient({ url: 'https://vault.internal', token: process.env.VAULT_TOKEN! });
 * const lease = await vault.requestDataset({ purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z' });
 * for await (const record of vault.records(lease.dataset_id)) train(record.subject, record.payload);
 * ```
 */

export interface DatasetRequestBody {
  readonly purpose: string;
  readonly kinds?: string[];
  readonly org_units?: string[];
  readonly from: string;
  readonly to: string;
  readonly max_sensitivity?: number;
}

export interface DatasetLease {
  readonly dataset_id: string;
  readonly scope: { org_units: string[]; kinds: string[]; max_sensitivity: number; from: string; to: string };
  readonly record_count: number;
  readonly employee_count: number;
  readonly expires_at: string;
  readonly policy_revision: string;
  readonly decision_id: string;
}

export interface DatasetRecord<P = unknown> {
  readonly cursor: string;
  /** A pseudonym of the employee, stable within this dataset only. */
  readonly subject: string;
  readonly captured_at: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly payload: P;
}

export interface VaultClientOptions {
  readonly url: string;
  /** A bearer token, or a function that returns a fresh one (called before every request). */
  readonly token: string | (() => string | Promise<string>);
  /** Attempts after a dropped connection or a 5xx before giving up; resets when records arrive. */
  readonly maxRetries?: number;
  readonly retryDelayMs?: number;
  readonly fetch?: typeof fetch;
}

/** A refusal by the vault: `status` and `error` are the HTTP status and the vault's error code. */
export class VaultClientError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'VaultClientError';
  }
}

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

  async #refusal(response: Response): Promise<VaultClientError> {
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    return new VaultClientError(response.status, String(body.error ?? 'http_error'), String(body.message ?? response.statusText), body);
  }

  /** `POST /v1/datasets`; a deny throws a {@link VaultClientError} with the reasons and decision id in `body`. */
  async requestDataset(request: DatasetRequestBody): Promise<DatasetLease> {
    const response = await this.#fetch(new URL('/v1/datasets', this.#options.url), {
      method: 'POST',
      headers: await this.#headers({ 'content-type': 'application/json' }),
      body: JSON.stringify(request),
    });
    if (response.status !== 201) throw await this.#refusal(response);
    return (await response.json()) as DatasetLease;
  }

  /** The dataset's records in stream order, from `after` when given; resumes by itself after a dropped connection. */
  async *records<P = unknown>(datasetId: string, options: { after?: string } = {}): AsyncGenerator<DatasetRecord<P>> {
    let cursor = options.after;
    let failures = 0;
    const maxRetries = this.#options.maxRetries ?? 5;
    for (;;) {
      const url = new URL(`/v1/datasets/${encodeURIComponent(datasetId)}/records`, this.#options.url);
      if (cursor) url.searchParams.set('after', cursor);
      let response: Response;
      try {
        response = await this.#fetch(url, { headers: await this.#headers() });
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
      if (response.status !== 200 || !response.body) throw await this.#refusal(response);
      const decoder = new TextDecoder();
      let pending = '';
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          pending += decoder.decode(chunk, { stream: true });
          let start = 0;
          for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n', start)) {
            const line = pending.slice(start, newline);
            start = newline + 1;
            if (line === '') continue;
            const record = JSON.parse(line) as DatasetRecord<P>;
            cursor = record.cursor;
            failures = 0;
            yield record;
          }
          pending = pending.slice(start);
        }
        if (pending === '') return;
        throw new TypeError('the stream ended inside a record');
      } catch (err) {
        if (err instanceof SyntaxError || ++failures > maxRetries) throw err;
        await this.#pause(failures);
      }
    }
  }

  /** `GET /v1/employees/{id}/access-report`. */
  async accessReport(employeeId: string): Promise<unknown> {
    const response = await this.#fetch(new URL(`/v1/employees/${encodeURIComponent(employeeId)}/access-report`, this.#options.url), { headers: await this.#headers() });
    if (!response.ok) throw await this.#refusal(response);
    return response.json();
  }

  #pause(attempt: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, (this.#options.retryDelayMs ?? 200) * 2 ** (attempt - 1)));
  }
}
