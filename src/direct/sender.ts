/**
 * The sending end of a direct transfer: connects to the target's receiver over TLS-PSK and sends
 * the layers it does not hold yet (the receiver says which it has), then waits for the receiver
 * to confirm the chain is whole. Image files are read once, straight from the layer dirs CRIU
 * wrote, and never touch the store on this path.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { clientTls, encodeFrame, SocketReader, type Frame } from './wire';

export interface SendLayersInput {
  address: string;
  port: number;
  sessionId: string;
  psk: Buffer;
  /** This host's layers of the chain (dirs CRIU wrote), any order; the highest index is the final one. */
  layers: Array<{ index: number; dir: string }>;
  connectTimeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (bytesSent: number, bytesTotal: number) => void;
}

export interface Sent {
  /** Where the whole chain now is on the receiving host. */
  imagesDir: string;
  bytes: number;
  layersSent: number[];
}

/** Why a transfer failed, in words an operator can act on; the cause is kept. */
export class DirectLinkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DirectLinkError';
  }
}

/**
 * Read size for image files. Node's TLS encrypts each write in 16 KiB records; measured here on
 * loopback, 256 KiB writes moved the most (a 4 MiB write was 20 % slower, one huge write 5x).
 */
const SEND_CHUNK_BYTES = 256 * 1024;

/** A receiver that takes nothing for this long is gone (a host that vanished sends no reset). */
export const STALL_LIMIT_MS = 60_000;

export async function sendLayers(input: SendLayersInput): Promise<Sent> {
  const where = `${input.address}:${input.port}`;
  const socket = await connect(input, where);
  socket.setTimeout(STALL_LIMIT_MS, () => socket.destroy(new Error(`the receiver took nothing for ${STALL_LIMIT_MS / 1000} s`)));
  try {
    const reader = new SocketReader(socket);
    const hello = expectFrame(await reader.frame(), 'hello', where);
    const present = new Set(hello.present);
    const ordered = [...input.layers].sort((a, b) => a.index - b.index);
    const toSend = await Promise.all(ordered.filter((l) => !present.has(l.index)).map(async (l) => ({ ...l, files: await imageFiles(l.dir) })));
    const total = toSend.reduce((n, l) => n + l.files.reduce((m, f) => m + f.size, 0), 0);
    let sent = 0;
    for (const layer of toSend) {
      socket.write(encodeFrame({ type: 'layer', index: layer.index, files: layer.files.map(({ name, size }) => ({ name, size })) }));
      for (const f of layer.files) {
        await sendFile(socket, f.path, f.size, input.signal);
        sent += f.size;
        input.onProgress?.(sent, total);
      }
    }
    socket.write(encodeFrame({ type: 'end', finalIndex: ordered[ordered.length - 1]!.index }));
    const reply = await reader.frame();
    if (reply.type === 'error') throw new DirectLinkError(`the receiver at ${where} refused the transfer: ${reply.message}`);
    const done = expectFrame(reply, 'done', where);
    return { imagesDir: done.imagesDir, bytes: sent, layersSent: toSend.map((l) => l.index) };
  } catch (err) {
    if (err instanceof DirectLinkError) throw err;
    throw new DirectLinkError(`the direct transfer to ${where} broke off: ${messageOf(err)}`, { cause: err });
  } finally {
    socket.destroy();
  }
}

/** One file's bytes onto the socket, as many as were listed, waiting whenever the socket is full. */
async function sendFile(socket: tls.TLSSocket, file: string, size: number, signal: AbortSignal | undefined): Promise<void> {
  const fh = await fs.promises.open(file, 'r');
  try {
    for (let pos = 0; pos < size; ) {
      if (signal?.aborted) throw new Error('cancelled');
      const buf = Buffer.allocUnsafe(Math.min(SEND_CHUNK_BYTES, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new Error(`${file} ended at byte ${pos} of ${size}: it changed while being sent`);
      pos += bytesRead;
      if (!socket.write(buf.subarray(0, bytesRead))) await drained(socket);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Until the socket can take more. A receiver that dies (its host killed, its worker stopped)
 * closes the connection without any 'error' here: waiting for 'drain' alone would never end.
 */
function drained(socket: tls.TLSSocket): Promise<void> {
  if (socket.destroyed) return Promise.reject(new Error('the receiver closed the connection'));
  return new Promise((resolve, reject) => {
    const settle = (err: Error | null) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle(null);
    const onClose = () => settle(new Error('the receiver closed the connection'));
    const onError = (err: Error) => settle(err);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

function connect(input: SendLayersInput, where: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: input.address, port: input.port, ...clientTls(input.sessionId, input.psk) });
    const timer = setTimeout(() => fail(new Error(`no answer within ${input.connectTimeoutMs} ms`)), input.connectTimeoutMs);
    const onAbort = () => fail(new Error('cancelled'));
    input.signal?.addEventListener('abort', onAbort, { once: true });
    function fail(err: Error): void {
      clearTimeout(timer);
      input.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(new DirectLinkError(`cannot reach the receiver at ${where}: ${describeConnectError(err)}`, { cause: err }));
    }
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      input.signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

function describeConnectError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused (no receiver listens there: the target worker restarted, or the receiver closed)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'no route to that address (set the target worker\'s --direct-address to one this host reaches)';
  if (code.startsWith('ERR_SSL') || /alert|handshake|decrypt/i.test(err.message)) return `the TLS handshake failed: the keys of this transfer do not match (${err.message})`;
  return err.message;
}

function expectFrame<T extends Frame['type']>(frame: Frame, type: T, where: string): Extract<Frame, { type: T }> {
  if (frame.type !== type) throw new DirectLinkError(`the receiver at ${where} answered "${frame.type}" where "${type}" was due`);
  return frame as Extract<Frame, { type: T }>;
}

/** The regular files of a layer dir (the `parent` link is rebuilt by the receiver). */
async function imageFiles(dir: string): Promise<Array<{ name: string; path: string; size: number }>> {
  const files = [];
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const p = path.join(dir, entry.name);
    files.push({ name: entry.name, path: p, size: (await fs.promises.stat(p)).size });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
