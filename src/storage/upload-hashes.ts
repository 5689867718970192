/**
 * The read of a local file before it is uploaded, and the part size it is cut at. One pass gives
 * everything the upload is checked with, so that sending never hashes again.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { readChunks } from './file-reads';

export const MiB = 1024 * 1024;
const MAX_PARTS = 10000;
/** S3's smallest allowed part (except the last). */
const MIN_PART_SIZE = 5 * MiB;

export function partSizeFor(size: number, preferred: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  return Math.max(preferred, MIN_PART_SIZE, Math.ceil(needed / MiB) * MiB);
}

export interface UploadHashes {
  size: number;
  /** Hex SHA-256 of the whole file. */
  sha256: string;
  /** Part size the part checksums were cut at; 0 when the file fits in one part. */
  partSize: number;
  partCrc32: string[];
  /** CRC32 of each plaintext segment, when asked for (encrypted uploads re-check them while sealing). */
  segmentCrc32: number[];
}

export function crc32Base64(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b.toString('base64');
}

/** CRC32 of each consecutive `size`-byte piece of a byte stream; the last piece may be shorter. */
class PieceCrcs {
  private readonly crcs: number[] = [];
  private crc = 0;
  private filled = 0;
  constructor(private readonly size: number) {}

  update(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(chunk.length - off, this.size - this.filled);
      this.crc = crc32(off === 0 && take === chunk.length ? chunk : chunk.subarray(off, off + take), this.crc);
      this.filled += take;
      off += take;
      if (this.filled === this.size) {
        this.crcs.push(this.crc);
        this.crc = 0;
        this.filled = 0;
      }
    }
  }

  /** `emptyIsOnePiece`: an empty stream still has one (empty) piece, whose CRC32 is 0. */
  finish(emptyIsOnePiece = false): number[] {
    if (this.filled > 0 || (emptyIsOnePiece && this.crcs.length === 0)) this.crcs.push(this.crc);
    return this.crcs;
  }
}

/**
 * One read of the file giving the whole-file SHA-256 (the blob's name, verified on every
 * download) and one CRC32 per multipart part (sent with the part, checked by the server), so the
 * upload itself never hashes. Parts use CRC32 rather than SHA-256 because, measured here, SHA-256
 * per part cost ~1 s per GiB on the client and as much again on the server, which made uploads
 * markedly slower than a plain PutObject; the SHA-256 of the whole file still guards the data
 * end to end.
 */
export async function hashForUpload(
  file: string,
  expectedSize: number,
  bufferSize: number,
  signal?: AbortSignal,
  segmentSize = 0,
): Promise<UploadHashes> {
  // Encrypted objects are cut into parts after sealing, so plaintext part CRCs would be useless.
  const partSize = segmentSize === 0 && expectedSize > bufferSize ? partSizeFor(expectedSize, bufferSize) : 0;
  const whole = createHash('sha256');
  const segments = segmentSize !== 0 ? new PieceCrcs(segmentSize) : null;
  const parts = partSize !== 0 ? new PieceCrcs(partSize) : null;
  let size = 0;
  await readChunks(
    file,
    (chunk) => {
      whole.update(chunk);
      size += chunk.length;
      segments?.update(chunk);
      parts?.update(chunk);
    },
    signal,
  );
  return {
    size,
    sha256: whole.digest('hex'),
    partSize,
    partCrc32: parts ? parts.finish().map(crc32Base64) : [],
    segmentCrc32: segments ? segments.finish(true) : [],
  };
}
