/**
 * Authenticated manifests. A restore trusts a manifest for everything: which layers, in which
 * order, which files with which sizes and SHA-256s, which blobs, which base checkpoints. Blobs are
 * checked against the manifest, so whoever can rewrite a manifest chooses the bytes CRIU restores
 * as root. With an encryption key configured, every manifest ferry writes carries an HMAC-SHA256
 * over all of it (a key derived from the encryption key, so there is still one secret to manage),
 * and a manifest read for a restore, a pull, or as the base of a new checkpoint must carry a valid
 * one: a manifest changed after ferry wrote it (a file record taken from another checkpoint, two
 * files swapped, a base replaced) is refused, always. A manifest of encrypted layers without one
 * (written before this) is refused too unless FERRY_ALLOW_UNAUTHENTICATED_CHECKPOINTS=true; one of
 * plaintext layers falls under the rule for plaintext layers (refused unless allowUnencrypted).
 *
 * Without a key nothing can be authenticated: the bucket's access control is then all that
 * protects a restore (docs/reliability.md, threat model).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EncryptionKeyMismatch, ManifestInvalid } from '../core';
import type { EncryptionKey } from '../config/encryption-key';
import type { CheckpointManifest, ManifestAuthRecord } from './types';

export const MANIFEST_AUTH_ALG = 'hmac-sha256-v1';
export const ALLOW_UNAUTHENTICATED_SETTING = 'FERRY_ALLOW_UNAUTHENTICATED_CHECKPOINTS';

/** JSON with object keys sorted at every level: the same bytes whatever order a writer used. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export class ManifestAuth {
  private readonly macKey: Buffer | null;
  readonly keyId: string | null;

  constructor(
    key: EncryptionKey | null,
    /** Accept manifests that carry no authentication code (never ones whose code is wrong). */
    private readonly allowUnauthenticated = false,
  ) {
    this.macKey = key ? createHmac('sha256', key.reveal()).update('ferry-manifest-auth-v1').digest() : null;
    this.keyId = key?.id ?? null;
  }

  /** The manifest as ferry stores it: with its authentication code when a key is configured. */
  seal(manifest: CheckpointManifest): CheckpointManifest {
    const { auth: _old, ...body } = manifest;
    if (!this.macKey || !this.keyId) return body;
    return { ...body, auth: { alg: MANIFEST_AUTH_ALG, keyId: this.keyId, mac: this.mac(body) } };
  }

  /** Throws ManifestInvalid (naming `key`) unless the manifest may be trusted for a restore. */
  check(key: string, manifest: CheckpointManifest): void {
    if (!this.macKey) return;
    const auth = manifest.auth;
    if (!auth) {
      // A manifest of plaintext layers was written without a key: the pull's own rule for
      // plaintext layers decides (refused unless asked for with allowUnencrypted).
      if (this.allowUnauthenticated || manifest.layers.every((l) => l.encryption === undefined)) return;
      throw new ManifestInvalid(
        key,
        `it carries no authentication code (written without an encryption key, or by a ferry from before authenticated manifests), so nothing shows it is the one ferry wrote; ` +
          `to trust it anyway set ${ALLOW_UNAUTHENTICATED_SETTING}=true for this command`,
      );
    }
    if (auth.keyId !== this.keyId) throw new EncryptionKeyMismatch(manifest.checkpointId, auth.keyId, this.keyId);
    const { auth: _auth, ...body } = manifest;
    const expected = Buffer.from(this.mac(body), 'base64');
    const actual = Buffer.from(auth.mac, 'base64');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      throw new ManifestInvalid(key, 'its authentication code does not match: it was changed after ferry wrote it; do not restore it');
    }
  }

  private mac(body: Omit<CheckpointManifest, 'auth'>): string {
    return createHmac('sha256', this.macKey!).update(`${MANIFEST_AUTH_ALG}\n`).update(canonicalJson(body)).digest('base64');
  }
}

export function isManifestAuthRecord(v: unknown): v is ManifestAuthRecord {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return a.alg === MANIFEST_AUTH_ALG && typeof a.keyId === 'string' && /^[0-9a-f]{16}$/.test(a.keyId) && typeof a.mac === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(a.mac);
}
