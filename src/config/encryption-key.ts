/**
 * The client-side encryption key: where it comes from, how it is checked, and the one object that
 * holds its bytes.
 *
 * The key never enters FerryConfig (which is printed, logged and passed around): config holds only
 * its id and source. The bytes live in an EncryptionKey, whose field is private (#bytes) and whose
 * toJSON / util.inspect show only the id, so logging it by mistake prints nothing secret. Messages
 * name the setting, never the value.
 *
 * Sources, first match wins:
 *   FERRY_ENCRYPTION_KEY_FILE  a file holding 32 random bytes as 64 hex chars or base64 (one line),
 *                              not readable by group or others (like an ssh private key)
 *   FERRY_ENCRYPTION_KEY       the same text in the environment
 * Setting both is refused, so it is never ambiguous which key wrote a checkpoint.
 */
import { failureKind, type FerryErrorOptions } from '../core/ferry-error';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';

export const KEY_FILE_SETTING = 'FERRY_ENCRYPTION_KEY_FILE';
export const KEY_ENV_SETTING = 'FERRY_ENCRYPTION_KEY';
const KEY_BYTES = 32;
const MAX_KEY_FILE_BYTES = 1024;

/** A key setting that is present but unusable. Names the setting, never its value. */
export class EncryptionKeyInvalid extends failureKind('encryption-key-invalid', { retryable: false }) {
  constructor(readonly setting: string, readonly problem: string, options?: FerryErrorOptions) {
    super(`invalid configuration: ${setting} ${problem}`, options);
  }
}


/** First 16 hex chars of SHA-256(key): names a key in manifests and messages without revealing it. */
export function keyIdOf(bytes: Buffer): string {
  return createHash('sha256').update('ferry-key-id-v1\0').update(bytes).digest('hex').slice(0, 16);
}

export class EncryptionKey {
  readonly #bytes: Buffer;
  readonly id: string;
  constructor(bytes: Buffer) {
    if (bytes.length !== KEY_BYTES) throw new RangeError(`an encryption key is ${KEY_BYTES} bytes`);
    this.#bytes = Buffer.from(bytes);
    this.id = keyIdOf(this.#bytes);
  }

  /** The key bytes; only the cipher module should call this. */
  reveal(): Buffer {
    return this.#bytes;
  }

  toJSON(): { keyId: string } {
    return { keyId: this.id };
  }

  toString(): string {
    return `EncryptionKey(${this.id})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Parses 64 hex chars or base64 of 32 bytes; null if the text is neither. */
function parseKeyText(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  return null;
}

const FORMAT_HINT = `must hold ${KEY_BYTES} random bytes as 64 hex characters or base64 (e.g. \`openssl rand -hex 32\`)`;

function readKeyFile(file: string): Buffer {
  if (!path.isAbsolute(file)) throw new EncryptionKeyInvalid(KEY_FILE_SETTING, 'must be an absolute path');
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new EncryptionKeyInvalid(KEY_FILE_SETTING, `names a file that cannot be opened (${code})`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new EncryptionKeyInvalid(KEY_FILE_SETTING, 'does not name a regular file');
    if ((st.mode & 0o077) !== 0) {
      throw new EncryptionKeyInvalid(
        KEY_FILE_SETTING,
        `names a file readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`,
      );
    }
    // Mode 600 protects nothing if someone else owns the file: they could read it, or swap the key.
    const euid = process.geteuid?.();
    if (euid !== undefined && st.uid !== euid && st.uid !== 0) {
      throw new EncryptionKeyInvalid(KEY_FILE_SETTING, `names a file owned by uid ${st.uid}; it must belong to the user ferry runs as (uid ${euid}) or to root: chown it`);
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw new EncryptionKeyInvalid(KEY_FILE_SETTING, `names a file too large for a key; it ${FORMAT_HINT}`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    const key = parseKeyText(buf.subarray(0, off).toString('utf8'));
    buf.fill(0);
    if (!key) throw new EncryptionKeyInvalid(KEY_FILE_SETTING, `names a file that is not a key: it ${FORMAT_HINT}`);
    return key;
  } finally {
    closeSync(fd);
  }
}

type Env = Record<string, string | undefined>;

/** Where the key comes from, without its bytes: what config may hold. */
export interface EncryptionKeyRef {
  keyId: string;
  source: typeof KEY_FILE_SETTING | typeof KEY_ENV_SETTING;
  /** The key file (a path is not secret), when source is the file. */
  keyFile?: string;
}

/** The configured key, or null when none is configured. Throws EncryptionKeyInvalid for a bad one. */
export function loadEncryptionKey(env: Env = process.env): EncryptionKey | null {
  const file = env[KEY_FILE_SETTING];
  const text = env[KEY_ENV_SETTING];
  const hasFile = file !== undefined && file.trim() !== '';
  const hasText = text !== undefined && text !== '';
  if (hasFile && hasText) {
    throw new EncryptionKeyInvalid(KEY_ENV_SETTING, `and ${KEY_FILE_SETTING} are both set; set only one of them`);
  }
  if (hasFile) return new EncryptionKey(readKeyFile(file.trim()));
  if (hasText) {
    const key = parseKeyText(text);
    if (!key) throw new EncryptionKeyInvalid(KEY_ENV_SETTING, FORMAT_HINT);
    return new EncryptionKey(key);
  }
  return null;
}

/** The key's id and source for FerryConfig (the bytes are read, checked and dropped). */
export function encryptionKeyRef(env: Env = process.env): EncryptionKeyRef | undefined {
  const key = loadEncryptionKey(env);
  if (!key) return undefined;
  const file = env[KEY_FILE_SETTING];
  return file !== undefined && file.trim() !== ''
    ? { keyId: key.id, source: KEY_FILE_SETTING, keyFile: path.normalize(file.trim()) }
    : { keyId: key.id, source: KEY_ENV_SETTING };
}
