/**
 * The direct link's wire format, inside TLS-PSK (TLS 1.2, AEAD ciphers only; no certificates: the
 * per-transfer key of session-keys.ts authenticates both ends).
 *
 *   receiver -> sender   {type: "hello", present: [layer indexes the receiver already holds]}
 *   sender -> receiver   {type: "layer", index, files: [{name, size}]}, then each file's bytes in order
 *                        ... one per layer the receiver lacks ...
 *   sender -> receiver   {type: "end", finalIndex}
 *   receiver -> sender   {type: "done", imagesDir, bytes} | {type: "error", message}
 *
 * A header is a 4-byte big-endian length and that many bytes of JSON.
 */
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TlsOptions } from 'node:tls';

export interface HelloFrame {
  type: 'hello';
  present: number[];
}
export interface LayerFrame {
  type: 'layer';
  index: number;
  files: Array<{ name: string; size: number }>;
}
export interface EndFrame {
  type: 'end';
  finalIndex: number;
}
export interface DoneFrame {
  type: 'done';
  imagesDir: string;
  bytes: number;
}
export interface ErrorFrame {
  type: 'error';
  message: string;
}
export type Frame = HelloFrame | LayerFrame | EndFrame | DoneFrame | ErrorFrame;

/** Headers are small (a layer lists a few dozen files): anything bigger is not ferry talking. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** TLS 1.2 is where Node offers PSK; both ciphers are AEAD, AES-GCM first where the CPU has AES. */
const PSK_CIPHERS = 'PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305';

export function serverTls(sessionId: string, psk: Buffer): TlsOptions {
  return {
    ciphers: PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    pskCallback: (_socket, identity) => (identity === sessionId ? psk : null),
  };
}

export function clientTls(sessionId: string, psk: Buffer): ConnectionOptions {
  return {
    ciphers: PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    // No certificate to check: the pre-shared key is what proves the server's identity.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk, identity: sessionId }),
  };
}

export function encodeFrame(frame: Frame): Buffer {
  const body = Buffer.from(JSON.stringify(frame), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/**
 * Reads header frames and raw bytes from a socket as the protocol asks for them (pull, so a slow
 * disk on the receiving side slows the sender through TCP instead of filling memory).
 */
export class SocketReader {
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly socket: Duplex) {
    socket.on('readable', () => this.poke());
    socket.on('end', () => this.finish(null));
    socket.on('close', () => this.finish(null));
    socket.on('error', (err: Error) => this.finish(err));
  }

  async frame(): Promise<Frame> {
    const length = (await this.exactly(4)).readUInt32BE(0);
    if (length > MAX_HEADER_BYTES) throw new Error(`the peer sent a header of ${length} bytes (at most ${MAX_HEADER_BYTES})`);
    const frame = JSON.parse((await this.exactly(length)).toString('utf8')) as unknown;
    if (typeof frame !== 'object' || frame === null || typeof (frame as { type?: unknown }).type !== 'string') throw new Error('the peer sent a header without a type');
    return frame as Frame;
  }

  /** Between 1 and `max` bytes: whatever has arrived, so disk writes batch what came meanwhile. */
  async upTo(max: number): Promise<Buffer> {
    for (;;) {
      const chunk = this.socket.read() as Buffer | null;
      if (chunk !== null && chunk.length > 0) {
        if (chunk.length <= max) return chunk;
        this.socket.unshift(chunk.subarray(max));
        return chunk.subarray(0, max);
      }
      await this.readable();
    }
  }

  private async exactly(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    for (;;) {
      const chunk = this.socket.read(n) as Buffer | null;
      if (chunk !== null) {
        if (chunk.length === n) return chunk;
        throw new Error('the peer closed the connection in the middle of a header');
      }
      await this.readable();
    }
  }

  private readable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new Error('the peer closed the connection'));
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private finish(err: Error | null): void {
    if (err && !this.failure) this.failure = err;
    this.ended = true;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
