/**
 * The receiving end of a direct transfer: a TLS-PSK listener on the target host's worker that
 * takes the layers the target lacks straight from the source's worker, into the same download
 * dir the prefetch filled, laid out as a pull lays it out (layer-N, each with a relative
 * `parent` link), so CRIU restores from it as from a download.
 *
 * One transfer per listener: the first connection that completes the handshake (only the sender
 * holding the other private key can) is served; the listener then closes. A connection that
 * fails the handshake costs nothing and changes nothing.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import tls from 'node:tls';
import { encodeFrame, serverTls, SocketReader, type LayerFrame } from './wire';

export interface ReceiverOptions {
  sessionId: string;
  psk: Buffer;
  /** The target's download dir for this checkpoint (it exists; prefetched layers may be in it). */
  intoDir: string;
  bindAddress: string;
  /** 0 = any free port. */
  port: number;
  /** Closes unused after this long (ms), so a migration that never sends leaves nothing open. */
  idleLimitMs: number;
}

export interface Received {
  imagesDir: string;
  bytes: number;
  layers: number[];
}

/** Highest layer index accepted, and most files in one layer: far above what CRIU writes. */
const MAX_LAYER_INDEX = 100_000;
const MAX_FILES_PER_LAYER = 10_000;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Bytes received but not yet written to disk, at most (per file being written). */
const WRITE_QUEUE_BYTES = 8 * 1024 * 1024;

export class DirectReceiver {
  private busy = false;
  private closed = false;
  private readonly idleTimer: NodeJS.Timeout;
  /** Settles when the one transfer ends (or the listener closes without one). */
  readonly outcome: Promise<Received>;
  private settle!: (r: Received | Error) => void;

  private constructor(private readonly server: tls.Server, private readonly opts: ReceiverOptions) {
    this.outcome = new Promise<Received>((resolve, reject) => {
      this.settle = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
    this.outcome.catch(() => undefined); // nobody may be waiting
    this.idleTimer = setTimeout(() => this.close(new Error(`no transfer came within ${opts.idleLimitMs} ms`)), opts.idleLimitMs);
    this.idleTimer.unref();
    server.on('secureConnection', (socket) => void this.serve(socket));
    // A failed handshake (wrong key, not TLS at all) is someone else's problem: keep listening.
    server.on('tlsClientError', () => undefined);
  }

  static listen(opts: ReceiverOptions): Promise<DirectReceiver> {
    const server = tls.createServer(serverTls(opts.sessionId, opts.psk));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.bindAddress, () => {
        server.off('error', reject);
        resolve(new DirectReceiver(server, opts));
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  close(reason: Error = new Error('the receiver was closed')): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.server.close();
    this.settle(reason);
  }

  private async serve(socket: tls.TLSSocket): Promise<void> {
    if (this.busy || this.closed) {
      socket.destroy();
      return;
    }
    this.busy = true;
    clearTimeout(this.idleTimer);
    this.server.close(); // one transfer per listener
    try {
      const received = await receiveLayers(socket, this.opts.intoDir);
      socket.end(encodeFrame({ type: 'done', imagesDir: received.imagesDir, bytes: received.bytes }));
      this.closed = true;
      this.settle(received);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (socket.writable) socket.end(encodeFrame({ type: 'error', message }));
      else socket.destroy();
      this.closed = true;
      this.settle(new Error(message));
    }
  }
}

async function receiveLayers(socket: tls.TLSSocket, intoDir: string): Promise<Received> {
  const reader = new SocketReader(socket);
  const present = await presentLayers(intoDir);
  socket.write(encodeFrame({ type: 'hello', present: [...present].sort((a, b) => a - b) }));
  let bytes = 0;
  const layers: number[] = [];
  for (;;) {
    const frame = await reader.frame();
    if (frame.type === 'layer') {
      checkLayerFrame(frame, present);
      bytes += await receiveLayer(reader, frame, intoDir);
      present.add(frame.index);
      layers.push(frame.index);
    } else if (frame.type === 'end') {
      const imagesDir = await completeChain(intoDir, frame.finalIndex, present);
      return { imagesDir, bytes, layers };
    } else {
      throw new Error(`unexpected "${String(frame.type)}" from the sender`);
    }
  }
}

async function presentLayers(dir: string): Promise<Set<number>> {
  const present = new Set<number>();
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const m = /^layer-(\d+)$/.exec(entry.name);
    if (m && entry.isDirectory()) present.add(Number(m[1]));
  }
  return present;
}

function checkLayerFrame(frame: LayerFrame, present: Set<number>): void {
  const { index, files } = frame;
  if (!Number.isSafeInteger(index) || index < 0 || index > MAX_LAYER_INDEX) throw new Error(`layer index ${String(index)} is not one ferry writes`);
  if (present.has(index)) throw new Error(`layer ${index} is already here`);
  if (!Array.isArray(files) || files.length > MAX_FILES_PER_LAYER) throw new Error(`layer ${index}: the file list is not a list of at most ${MAX_FILES_PER_LAYER}`);
  const names = new Set<string>();
  for (const f of files) {
    if (typeof f?.name !== 'string' || !FILE_NAME.test(f.name) || f.name === 'parent') throw new Error(`layer ${index}: ${JSON.stringify(f?.name)} is not an image file name`);
    if (names.has(f.name)) throw new Error(`layer ${index}: ${f.name} is sent twice`);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new Error(`layer ${index}: ${f.name} has no valid size`);
    names.add(f.name);
  }
}

/** Writes one layer into a hidden dir beside its place and renames it in once whole. */
async function receiveLayer(reader: SocketReader, frame: LayerFrame, intoDir: string): Promise<number> {
  const partial = path.join(intoDir, `.direct-layer-${frame.index}`);
  await fs.rm(partial, { recursive: true, force: true });
  await fs.mkdir(partial, { mode: 0o700 });
  let bytes = 0;
  try {
    for (const f of frame.files) {
      await receiveFile(reader, path.join(partial, f.name), f.size);
      bytes += f.size;
    }
    if (frame.index > 0) await fs.symlink(`../layer-${frame.index - 1}`, path.join(partial, 'parent'));
    await fs.rename(partial, path.join(intoDir, `layer-${frame.index}`));
    return bytes;
  } catch (err) {
    await fs.rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/**
 * One file's bytes from the socket to disk. A write stream queues what arrives while the disk is
 * busy and writes it in batches (one small write per TLS record would cap the link at the disk's
 * call rate); its high-water mark bounds the memory that queue may take.
 */
async function receiveFile(reader: SocketReader, file: string, size: number): Promise<void> {
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: WRITE_QUEUE_BYTES });
  const closed = new Promise<void>((resolve, reject) => {
    out.once('close', resolve);
    out.once('error', reject);
  });
  try {
    for (let left = size; left > 0; ) {
      const chunk = await reader.upTo(left);
      if (!out.write(chunk)) await once(out, 'drain');
      left -= chunk.length;
    }
  } catch (err) {
    out.destroy();
    await closed.catch(() => undefined);
    throw err;
  }
  out.end();
  await closed;
}

/** Every layer up to the final one must now be here (prefetched or just received). */
async function completeChain(intoDir: string, finalIndex: number, present: Set<number>): Promise<string> {
  if (!Number.isSafeInteger(finalIndex) || finalIndex < 0 || finalIndex > MAX_LAYER_INDEX) throw new Error(`final layer index ${String(finalIndex)} is not one ferry writes`);
  const missing: number[] = [];
  for (let i = 0; i <= finalIndex; i++) if (!present.has(i)) missing.push(i);
  if (missing.length > 0) throw new Error(`the chain is incomplete here: layer${missing.length === 1 ? '' : 's'} ${missing.join(', ')} reached this host neither from the store nor directly`);
  return path.join(intoDir, `layer-${finalIndex}`);
}
