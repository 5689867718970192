/**
 * The two ways the store reads local files: streamed front to back (hashing), and at a position
 * into a caller's buffer (parts of an upload).
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

/** Feeds the whole file to `onChunk` in order; stops with an error once `signal` aborts. */
export async function readChunks(file: string, onChunk: (chunk: Buffer) => void, signal?: AbortSignal): Promise<void> {
  await pipeline(
    createReadStream(file, { highWaterMark: 1024 * 1024 }),
    async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) onChunk(chunk);
    },
    signal ? { signal } : {},
  );
}

/** Reads up to `length` bytes at `position` into buf[0..); fewer only at the end of the file. Returns the count. */
export async function readAt(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
