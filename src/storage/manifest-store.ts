/**
 * Manifests in the bucket, and the chains they describe.
 *
 * Trust rules:
 * - A manifest says `complete: true` only after every object it needs was checked present as
 *   ferry stored it: the ETag the store computed after ferry's own checksum-verified write (or
 *   after ferry read it back), never metadata a writer chose (write refuses otherwise). Layers
 *   recorded before ETags fall back to size and metadata.
 * - A manifest read from the bucket is validated (manifest.ts) before anyone relies on it.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CheckpointNotFound, ChecksumMismatch, ManifestInvalid, ObjectMissing, isError } from '../core';
import { isValidCheckpointId, type KeyLayout } from './keys';
import { formatVersionFor, validateManifest } from './manifest';
import { ciphertextSize } from './blob-cipher';
import { ManifestAuth } from './manifest-auth';
import { mapLimit } from './local-files';
import { errorCode, httpStatus } from './s3-errors';
import { META_CONCURRENCY, type BlobState, type StoreBucket } from './store-bucket';
import type { ChainEntry, CheckpointManifest, LayerFile, LayerRecord } from './types';

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Object metadata naming who claimed a checkpoint id (lower case: S3 lowercases metadata keys). */
const CLAIM_OWNER_META = 'ferry-claimed-by';
/** Checkpoints one chain may draw base layers from, all levels together (a nightly chain uses one). */
export const MAX_CHAIN_CHECKPOINTS = 64;

/** The manifest key of a checkpoint id, or a placeholder key (for messages) when the id is not valid. */
function manifestKeyFor(keys: KeyLayout, checkpointId: string): string {
  return keys.manifest(isValidCheckpointId(checkpointId) ? checkpointId : '<invalid>');
}

/** Throws unless the stored object `state` is file `f` of `layer` as the manifest records it. */
function checkStoredObject(key: string, state: BlobState, f: LayerFile, layer: LayerRecord): void {
  const enc = layer.encryption;
  if (f.etag !== undefined) {
    // The ETag the store computed after ferry's own verified write (or read-back): any other
    // object under this key, planted or swapped since, has another one.
    const size = enc ? ciphertextSize(f.size, enc.segmentSize) : f.size;
    if (state.etag !== f.etag || state.size !== size) {
      throw new ChecksumMismatch(
        key,
        `the object ferry stored (ETag ${f.etag}, ${size} bytes)`,
        `ETag ${state.etag ?? 'none'} (${state.size} bytes)`,
        'the object was replaced after it was stored; push the layer again',
      );
    }
    return;
  }
  // Layers stored before ETags were recorded: only the size and the writer's metadata to go by.
  if (enc) {
    const size = ciphertextSize(f.size, enc.segmentSize);
    if (state.size !== size || (state.keyId !== undefined && state.keyId !== enc.keyId)) {
      throw new ChecksumMismatch(
        key,
        `an object of ${size} bytes encrypted with key ${enc.keyId}`,
        `${state.size} bytes, key ${state.keyId ?? 'none recorded'}`,
        'the stored object is not the encrypted file the manifest records; push the layer again',
      );
    }
    return;
  }
  if (state.size !== f.size || state.sha256 !== f.sha256) {
    throw new ChecksumMismatch(
      key,
      `${f.sha256} (${f.size} bytes)`,
      `${state.sha256 ?? 'none recorded'} (${state.size} bytes)`,
      'the stored object is not the file the manifest records; push the layer again',
    );
  }
}

export class ManifestStore {
  constructor(
    private readonly bucket: StoreBucket,
    private readonly auth: ManifestAuth = new ManifestAuth(null),
  ) {}

  /**
   * A manifest to restore from or build on: read, validated, and (with a key) authenticated.
   * Listing and clean-up use read(), which does not need to trust it.
   */
  async readTrusted(checkpointId: string): Promise<CheckpointManifest> {
    const manifest = await this.read(checkpointId);
    this.auth.check(manifestKeyFor(this.bucket.keys, checkpointId), manifest);
    return manifest;
  }

  async read(checkpointId: string): Promise<CheckpointManifest> {
    const key = manifestKeyFor(this.bucket.keys, checkpointId);
    if (!isValidCheckpointId(checkpointId)) throw new CheckpointNotFound(checkpointId, key);
    let text: string;
    try {
      const out = await this.bucket.client.send(new GetObjectCommand({ Bucket: this.bucket.name, Key: key }));
      if ((out.ContentLength ?? 0) > MAX_MANIFEST_BYTES) throw new ManifestInvalid(key, `it is ${out.ContentLength} bytes, too large for a manifest`);
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      const typed = await this.bucket.translate(err, `reading ${key}`, key);
      if (isError(typed, ObjectMissing)) throw new CheckpointNotFound(checkpointId, key, { cause: err });
      throw typed;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ManifestInvalid(key, 'it is not valid JSON', { cause: err });
    }
    return validateManifest(key, parsed, checkpointId);
  }

  /**
   * Stores a manifest. A manifest marked complete is written only after every object of its
   * chain (base layers included) was found as ferry stored it (checkStoredObject).
   */
  async write(manifest: CheckpointManifest): Promise<void> {
    const key = manifestKeyFor(this.bucket.keys, manifest.checkpointId);
    // Callers build manifests with formatVersion 1; encrypted layers need 2 (older readers refuse it).
    const valid = this.auth.seal(validateManifest(key, { ...JSON.parse(JSON.stringify(manifest)), formatVersion: formatVersionFor(manifest.layers) }));
    if (valid.complete) {
      const chain = await this.resolveChain(valid);
      await this.verifyChainObjects(chain);
    }
    const body = Buffer.from(JSON.stringify(valid, null, 2) + '\n');
    await this.bucket.call(`writing ${key}`, key, () =>
      this.bucket.client.send(
        new PutObjectCommand({
          Bucket: this.bucket.name,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        }),
      ),
    );
  }

  /**
   * Takes a checkpoint id: writes its first, empty, incomplete manifest only if no manifest exists
   * (a conditional write, If-None-Match: *), so of two runs started with the same new id exactly
   * one gets it. `owner` (the run's own id) is stored with it, so a retry of the same claim whose
   * answer was lost is recognised as the owner's. Returns false when the id is someone else's.
   */
  async claim(manifest: CheckpointManifest, owner: string): Promise<boolean> {
    const key = manifestKeyFor(this.bucket.keys, manifest.checkpointId);
    const body = Buffer.from(JSON.stringify(this.auth.seal(validateManifest(key, manifest)), null, 2) + '\n');
    try {
      await this.bucket.client.send(
        new PutObjectCommand({ Bucket: this.bucket.name, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*', Metadata: { [CLAIM_OWNER_META]: owner } }),
      );
      return true;
    } catch (err) {
      if (httpStatus(err) !== 412 && errorCode(err) !== 'PreconditionFailed') throw await this.bucket.translate(err, `claiming ${key}`, key);
    }
    const state = await this.bucket.client.send(new HeadObjectCommand({ Bucket: this.bucket.name, Key: key })).catch(() => null);
    return state?.Metadata?.[CLAIM_OWNER_META] === owner;
  }

  /** Checks every object of a chain is still the one ferry stored (HEAD only, no download). */
  async verifyChainObjects(chain: ChainEntry[]): Promise<void> {
    const wanted = new Map<string, { file: LayerFile; layer: LayerRecord }>();
    for (const entry of chain) for (const f of entry.layer.files) wanted.set(this.bucket.keys.blobOf(f), { file: f, layer: entry.layer });
    await mapLimit([...wanted.entries()], META_CONCURRENCY, async ([key, { file, layer }]) => {
      const state = await this.bucket.head(key);
      if (!state) throw new ObjectMissing(key, this.bucket.name, `file ${file.name}, ${file.size} bytes`);
      checkStoredObject(key, state, file, layer);
    });
  }

  /** The whole chain of a checkpoint, base layers of other checkpoints first. */
  async resolveChain(manifest: CheckpointManifest, seen: string[] = []): Promise<ChainEntry[]> {
    return this.resolve(manifest, seen, new Map());
  }

  /**
   * `resolved` is shared by the whole resolution: a checkpoint's chain depends on its own manifest
   * only, so each base is read and resolved once however many manifests refer to it (without that,
   * crafted manifests referring twice to the same level make one pull read exponentially many), and
   * at most MAX_CHAIN_CHECKPOINTS of them are read in all.
   */
  private async resolve(manifest: CheckpointManifest, seen: string[], resolved: Map<string, ChainEntry[]>): Promise<ChainEntry[]> {
    const key = this.bucket.keys.manifest(manifest.checkpointId);
    if (seen.includes(manifest.checkpointId) || seen.length > MAX_CHAIN_CHECKPOINTS) {
      throw new ManifestInvalid(key, `its base layers form a cycle (${[...seen, manifest.checkpointId].join(' -> ')})`);
    }
    const chain: ChainEntry[] = [];
    for (const b of manifest.baseLayers) {
      let baseChain = resolved.get(b.checkpointId);
      if (!baseChain) {
        if (resolved.size >= MAX_CHAIN_CHECKPOINTS) {
          throw new ManifestInvalid(key, `its chain refers to more than ${MAX_CHAIN_CHECKPOINTS} checkpoints`);
        }
        baseChain = await this.resolve(await this.readBase(key, b.checkpointId), [...seen, manifest.checkpointId], resolved);
        resolved.set(b.checkpointId, baseChain);
      }
      const entry = baseChain[b.index];
      if (!entry) throw new ManifestInvalid(key, `base checkpoint ${JSON.stringify(b.checkpointId)} has no layer at position ${b.index}`);
      chain.push({ ...entry, position: b.index });
    }
    for (const layer of manifest.layers) chain.push({ position: layer.index, checkpointId: manifest.checkpointId, layer });
    return chain;
  }

  /** The manifest of a base checkpoint; one that does not exist makes the manifest at `key` invalid. */
  private async readBase(key: string, baseId: string): Promise<CheckpointManifest> {
    try {
      return await this.readTrusted(baseId);
    } catch (err) {
      if (isError(err, CheckpointNotFound)) {
        throw new ManifestInvalid(key, `its base checkpoint ${JSON.stringify(baseId)} does not exist`, { cause: err });
      }
      throw err;
    }
  }
}
