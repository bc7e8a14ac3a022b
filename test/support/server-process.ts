import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TEST_RECORD_KINDS } from './vault.js';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Log lines at error level or above (5xx causes), kept for the failure message; the rest is discarded. */
  readonly errorLines: string[];
  /** The last 64 KiB the process wrote to stderr (a crash's stack trace). */
  stderr(): string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * The compiled server as deployed (`npm test` compiles first), started with `env` on an
 * ephemeral port. Its request log is read and dropped, so a long run does not pile it up here.
 */
export function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.resolve('dist/src/cli/bin.js'), 'serve'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, VAULT_PORT: '0', VAULT_LOG_LEVEL: 'info', VAULT_RECORD_KINDS: TEST_RECORD_KINDS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errorLines: string[] = [];
  const keep = (line: string) => {
    if (errorLines.length < 50 && /"level":(5|6)0/.test(line)) errorLines.push(line);
  };
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-64 * 1024);
  });
  return new Promise((resolve, reject) => {
    let head = '';
    let listening = false;
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      const text = partial + d.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) keep(line);
      if (listening) return;
      head += d;
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(head);
      if (!m) return;
      listening = true;
      head = '';
      resolve({ child, url: m[1]!, errorLines, stderr: () => stderr, stop: () => stopProcess(child) });
    });
    child.on('exit', (code, signal) => {
      if (!listening) reject(new Error(`server exited ${code ?? signal}: ${head}\n${stderr}`));
    });
  });
}

export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited(child);
  clearTimeout(timer);
}

/** Resident set size of a live process in KiB (`VmRSS` of /proc/<pid>/status); undefined once it is gone. */
export function residentKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface StreamedLine {
  readonly cursor: string;
  /** The record's `payload.tag`, the test's own id for it. */
  readonly tag: string;
}

export interface StreamOutcome {
  readonly status: number;
  readonly lines: StreamedLine[];
  /** The body ended without error (false when cut by `cutAfter`, the server or the timeout). */
  readonly complete: boolean;
  readonly error?: unknown;
  /** The error body when the status is not 200. */
  readonly body?: string;
}

/**
 * Streams `GET /v1/datasets/{id}/records` as a training job does: line by line, keeping each
 * line's cursor and tag. `cutAfter` drops the connection once that many lines arrived (a client
 * that resumes later); `pauseAt` stops reading at that many lines until `until` settles, so the
 * stream is in flight while something happens to the server.
 */
export async function streamDataset(
  baseUrl: string,
  token: string,
  datasetId: string,
  options: { after?: string; cutAfter?: number; pauseAt?: { lines: number; until: Promise<unknown> }; timeoutMs?: number } = {},
): Promise<StreamOutcome> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('stream timed out')), options.timeoutMs ?? 120_000);
  const lines: StreamedLine[] = [];
  let status = 0;
  try {
    const query = options.after === undefined ? '' : `?after=${encodeURIComponent(options.after)}`;
    const response = await fetch(`${baseUrl}/v1/datasets/${datasetId}/records${query}`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    status = response.status;
    if (status !== 200) return { status, lines, complete: false, body: await response.text() };
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let partial = '';
    let paused = false;
    for (;;) {
      if (options.pauseAt && !paused && lines.length >= options.pauseAt.lines) {
        paused = true;
        await options.pauseAt.until;
      }
      const { done, value } = await reader.read();
      if (done) break;
      const text = partial + decoder.decode(value, { stream: true });
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) {
        const line = JSON.parse(part) as { cursor: string; payload: { tag: string } };
        lines.push({ cursor: line.cursor, tag: line.payload.tag });
      }
      if (options.cutAfter !== undefined && lines.length >= options.cutAfter) {
        abort.abort(new Error('cut by the client'));
        await reader.cancel().catch(() => {});
        return { status, lines, complete: false };
      }
    }
    if (partial !== '') throw new Error(`the stream ended inside a line: ${partial.slice(0, 80)}`);
    return { status, lines, complete: true };
  } catch (error) {
    return { status, lines, complete: false, error };
  } finally {
    clearTimeout(timer);
  }
}
