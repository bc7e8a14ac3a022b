import { gunzipSync } from 'node:zlib';
import { VaultError } from '../errors/index.js';

const BLOCK = 512;
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 256;

function rejected(message: string): VaultError {
  return new VaultError('ERR_BUNDLE_REJECTED', message);
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number): number {
  const text = field(header, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw rejected('bundle archive has a corrupt header');
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * Reads a gzipped tar of regular files into name -> bytes (names without a leading "/").
 * Anything else a tar can hold (links, devices, PAX headers, "..", duplicates) is refused.
 */
export function readTarGz(archive: Uint8Array): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    throw new VaultError('ERR_BUNDLE_REJECTED', 'bundle is not a gzip archive, or it is truncated or too large', { cause: err });
  }
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return files;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
    if (sum !== octal(header, 148, 8)) throw rejected('bundle archive has a corrupt header');
    const type = String.fromCharCode(header[156]!);
    if (type !== '0' && type !== '\0') throw rejected('bundle archive holds something other than regular files');
    const prefix = field(header, 345, 155);
    const name = (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100)).replace(/^\/+/, '');
    if (name === '' || name.split('/').some((part) => part === '..' || part === '')) throw rejected('bundle archive has an unsafe file name');
    const size = octal(header, 124, 12);
    const start = offset + BLOCK;
    if (start + size > tar.length) throw rejected('bundle archive is truncated');
    if (files.has(name)) throw rejected('bundle archive names a file twice');
    if (files.size >= MAX_ENTRIES) throw rejected('bundle archive has too many files');
    files.set(name, Buffer.from(tar.subarray(start, start + size)));
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw rejected('bundle archive is truncated');
}
