/**
 * Where things live in the bucket. Everything ferry stores is under one prefix:
 *
 *   <prefix>/checkpoints/<checkpointId>/manifest.json   one JSON manifest per checkpoint
 *   <prefix>/blobs/sha256/<hex>                         file contents, addressed by their SHA-256
 *   <prefix>/blobs/aes256gcm/<hex>                      encrypted file contents, addressed by a keyed
 *                                                       hash of their SHA-256 (see blob-cipher.ts)
 *
 * Content addressing makes uploads idempotent (a stored blob is never sent again), lets a chain
 * share files with the warm chain it builds on, and makes garbage collection a mark-and-sweep
 * over the manifests that are kept.
 */
import { isValidCheckpointId } from '../core/ids';

export { CHECKPOINT_ID_RULE, isValidCheckpointId } from '../core/ids';

export class KeyLayout {
  private readonly root: string;
  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.root = trimmed ? `${trimmed}/` : '';
  }

  get checkpointsPrefix(): string {
    return `${this.root}checkpoints/`;
  }

  /** Every blob, plaintext or encrypted, lives under this prefix. */
  get blobsRoot(): string {
    return `${this.root}blobs/`;
  }

  get blobsPrefix(): string {
    return `${this.root}blobs/sha256/`;
  }

  get encryptedBlobsPrefix(): string {
    return `${this.root}blobs/aes256gcm/`;
  }

  encryptedBlob(nameHex: string): string {
    return `${this.encryptedBlobsPrefix}${nameHex}`;
  }

  /** Where a manifest's file is stored. */
  blobOf(file: { sha256: string; blob?: string }): string {
    return file.blob !== undefined ? this.encryptedBlob(file.blob) : this.blob(file.sha256);
  }

  /** True for keys that are blobs ferry wrote (plaintext or encrypted). */
  isBlobKey(key: string): boolean {
    const rest = key.startsWith(this.blobsPrefix)
      ? key.slice(this.blobsPrefix.length)
      : key.startsWith(this.encryptedBlobsPrefix)
        ? key.slice(this.encryptedBlobsPrefix.length)
        : null;
    return rest !== null && /^[0-9a-f]{64}$/.test(rest);
  }

  manifest(checkpointId: string): string {
    return `${this.checkpointsPrefix}${checkpointId}/manifest.json`;
  }

  blob(sha256Hex: string): string {
    return `${this.blobsPrefix}${sha256Hex}`;
  }

  /** The checkpoint id of a manifest key, or null if the key is something else. */
  checkpointIdOf(key: string): string | null {
    if (!key.startsWith(this.checkpointsPrefix) || !key.endsWith('/manifest.json')) return null;
    const id = key.slice(this.checkpointsPrefix.length, -'/manifest.json'.length);
    return isValidCheckpointId(id) ? id : null;
  }

  /** The SHA-256 of a blob key, or null if the key is something else. */
  shaOf(key: string): string | null {
    if (!key.startsWith(this.blobsPrefix)) return null;
    const sha = key.slice(this.blobsPrefix.length);
    return /^[0-9a-f]{64}$/.test(sha) ? sha : null;
  }
}
