import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { dataKeyId, KeyRing, loadAead, openLocalKeyProvider, type DataKey } from '../../src/crypto/index.js';
import { bindingOf, encodeRows, type LineShape } from '../../src/datasets/page.js';
import type { StreamRow } from '../../src/db/index.js';
import { tempDir } from '../support/vault.js';

const line: LineShape = { prefixOf: (row) => `{"id":"${row.event_id}","payload":`, requireEnrolled: true };

async function sealedRows(count: number) {
  const aead = await loadAead();
  const provider = await openLocalKeyProvider({ file: path.join(await tempDir('vault-page-'), 'kek.bin'), createIfMissing: true, aead });
  const keyRing = new KeyRing(aead, provider);
  const keys = new Map<string, DataKey>();
  for (const employee of ['emp-1', 'emp-2', 'emp-3']) keys.set(dataKeyId(employee, 1), await keyRing.unwrapDataKey(await keyRing.createDataKey(employee, 1)));
  const rows: StreamRow[] = Array.from({ length: count }, (_, i) => {
    const employee = `emp-${(i % 3) + 1}`;
    const row = { event_id: randomUUID(), captured_at: new Date(Date.UTC(2026, 10, 2, 8, 0, i)), employee_id: employee, org_unit: 'ops', kind: 'prompt', sensitivity: 1, dek_version: 1, categories: [] as string[] };
    const payload = Buffer.from(JSON.stringify({ i, text: 'x'.repeat(i * 37) + ' Zoë ☃' }));
    return { ...row, envelope: keyRing.encryptRecord(keys.get(dataKeyId(employee, 1))!, bindingOf({ ...row, envelope: new Uint8Array() }), payload) };
  });
  const openInto = (key: DataKey, row: StreamRow, target: Buffer) => keyRing.decryptRecordInto(key, bindingOf(row), row.envelope, target);
  return { rows, keys, openInto };
}

const lines = (body: Buffer) => body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; payload: { i: number } });

describe('a page written as NDJSON, payloads opened in place', () => {
  it('writes every line exactly, into a buffer that is the page alone', async () => {
    const { rows, keys, openInto } = await sealedRows(30);
    const page = encodeRows(rows, keys, openInto, () => true, line);
    assert.equal(page.records, 30);
    assert.deepEqual(
      lines(page.body).map((l) => [l.id, l.payload.i]),
      rows.map((r, i) => [r.event_id, i]),
    );
    assert.equal(page.body.byteOffset, 0);
    assert.equal(page.body.buffer.byteLength, page.body.length, 'the page shares its memory with other buffers');
  });

  it('skips and counts what it may not or cannot open; the lines around them are whole', async () => {
    const { rows, keys, openInto } = await sealedRows(12);
    const tampered = rows.map((r, i) => {
      if (i !== 4 && i !== 11) return r;
      const envelope = Buffer.from(r.envelope);
      envelope[envelope.length - 3]! ^= 0x40;
      return { ...r, envelope };
    });
    // A row whose key was destroyed and one too short to be an envelope.
    const erased = { ...rows[0]!, event_id: randomUUID(), employee_id: 'emp-9' };
    const short = { ...rows[1]!, event_id: randomUUID(), envelope: rows[1]!.envelope.subarray(0, 20) };
    const page = encodeRows([...tampered, erased, short], keys, openInto, (id) => id !== 'emp-3', line);
    // emp-3 (i = 2, 5, 8, 11) is not enrolled: 11 counts there, before it is opened.
    assert.deepEqual(page.skipped, { erased: 1, not_enrolled: 4, failed_authentication: 2 });
    assert.equal(page.records, 12 + 2 - 1 - 4 - 2);
    assert.deepEqual(
      lines(page.body).map((l) => l.payload.i),
      [0, 1, 3, 6, 7, 9, 10],
    );
    assert.equal(page.body.buffer.byteLength >= page.body.length, true);
    const rest = Buffer.from(page.body.buffer, page.body.length);
    assert.ok(rest.every((b) => b === 0), 'bytes past the page were left as they were');
  });

  it('zeroes what it wrote when a failure that is not authentication stops it', async () => {
    const { rows, keys, openInto } = await sealedRows(6);
    let body: Buffer | undefined;
    const failing = (key: DataKey, row: StreamRow, target: Buffer) => {
      if (row === rows[4]) {
        body = Buffer.from(target.buffer);
        throw new Error('the key ring went away');
      }
      openInto(key, row, target);
    };
    assert.throws(() => encodeRows(rows, keys, failing, () => true, line), /went away/);
    assert.ok(body && body.every((b) => b === 0), 'plaintext stayed in a page that was not sent');
  });
});
