/**
 * CRIU's protobuf image file framing (images v1.1):
 *   [u32 magic][u32 type magic] then repeated [u32 little-endian length][protobuf message].
 * Most images start with IMG_COMMON_MAGIC, service files (stats-*) with IMG_SERVICE_MAGIC, and
 * inventory.img with only its own magic. Raw images (pages-*.img) have no framing at all.
 *
 * Every length is checked against what is left of the file, so a truncated or corrupt file gives
 * an ImagesInvalidError instead of a hang or a huge allocation.
 */
import fs from 'node:fs';
import { decodeMessage } from './codec';
import { ImagesInvalidError } from '../core';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, INVENTORY_MAGIC } from './schema';

/** No CRIU image message ferry reads comes close to this; larger means corruption. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface ImageSpec {
  /** The type magic (e.g. PAGEMAP_MAGIC), or INVENTORY_MAGIC alone for inventory.img. */
  magic: number;
  /** true for stats-*.img and other service files (IMG_SERVICE_MAGIC). */
  service?: boolean;
}

/** Splits an image's bytes into its message payloads after checking its magics. */
export function splitImage(file: string, bytes: Buffer, spec: ImageSpec): Buffer[] {
  let offset: number;
  const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
  if (bytes.length < 4) throw new ImagesInvalidError(file, `too short (${bytes.length} bytes) to hold a magic`);
  const first = bytes.readUInt32LE(0);
  if (spec.magic === INVENTORY_MAGIC) {
    if (first !== INVENTORY_MAGIC) throw new ImagesInvalidError(file, `magic ${hex(first)} is not the inventory magic ${hex(INVENTORY_MAGIC)}`);
    offset = 4;
  } else {
    const head = spec.service ? IMG_SERVICE_MAGIC : IMG_COMMON_MAGIC;
    if (bytes.length < 8) throw new ImagesInvalidError(file, `too short (${bytes.length} bytes) to hold its magics`);
    if (first !== head) throw new ImagesInvalidError(file, `magic ${hex(first)} is not ${hex(head)}`);
    const second = bytes.readUInt32LE(4);
    if (second !== spec.magic) throw new ImagesInvalidError(file, `type magic ${hex(second)} is not ${hex(spec.magic)}`);
    offset = 8;
  }
  const messages: Buffer[] = [];
  while (offset < bytes.length) {
    if (bytes.length - offset < 4) throw new ImagesInvalidError(file, `truncated: ${bytes.length - offset} stray bytes at offset ${offset}`);
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (length > MAX_MESSAGE_BYTES || length > bytes.length - offset) {
      throw new ImagesInvalidError(file, `truncated or corrupt: record at offset ${offset - 4} claims ${length} bytes, ${bytes.length - offset} left`);
    }
    messages.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return messages;
}

/** Reads and decodes every message of an image file as `typeName`s (after `headType`, if given). */
export function decodeImage<T>(file: string, bytes: Buffer, spec: ImageSpec, typeName: string): T[] {
  return splitImage(file, bytes, spec).map((msg, i) => decodeAs<T>(file, typeName, msg, i));
}

export function decodeAs<T>(file: string, typeName: string, msg: Uint8Array, index: number): T {
  try {
    return decodeMessage<T>(typeName, msg);
  } catch (err) {
    throw new ImagesInvalidError(file, `record ${index} is not a valid ${typeName} (${(err as Error).message})`, { cause: err });
  }
}

/** No CRIU image ferry parses (pagemap, pstree, inventory, stats) comes close; pages-*.img are never read whole. */
const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Reads one image file whole. Only a regular file is read, and only up to its size at open time:
 * CRIU never writes an image as a symlink, FIFO or device, and reading `/dev/zero` or a FIFO
 * planted under an image's name would never end (or exhaust memory).
 */
export function readImageFile(file: string): Buffer {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink is refused (ELOOP); O_NONBLOCK: opening a FIFO does not wait for a writer.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'no such file' : code === 'ELOOP' ? 'it is a symlink, not a regular file' : (err as Error).message;
    throw new ImagesInvalidError(file, problem, { cause: err });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ImagesInvalidError(file, `it is not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a special file'})`);
    if (st.size > MAX_IMAGE_FILE_BYTES) throw new ImagesInvalidError(file, `it is ${st.size} bytes, far more than any such image holds (${MAX_IMAGE_FILE_BYTES})`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break; // shrank while we read: parse what is there
      got += n;
    }
    return got === st.size ? buf : buf.subarray(0, got);
  } catch (err) {
    if (err instanceof ImagesInvalidError) throw err;
    throw new ImagesInvalidError(file, (err as Error).message, { cause: err });
  } finally {
    fs.closeSync(fd);
  }
}
