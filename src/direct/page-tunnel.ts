/**
 * The page traffic of a post-copy ("lazy") migration, carried between the two ferry workers
 * inside TLS-PSK with the migration's own key (session-keys.ts), because CRIU's side of it is
 * plain TCP that anyone could join:
 *
 *   source host                                              target host
 *   CRIU lazy dump's page server  <-- 127.0.0.1 --  exit  ==TLS-PSK==>  entrance  <-- 127.0.0.1 --  criu lazy-pages
 *   (listens on every IPv4 address)                                     (loopback port)
 *
 * Over RPC, a lazy dump takes only a port and listens on every IPv4 address of the source, and it
 * serves the first connection it accepts, then closes its listener (run_tcp_server in CRIU's
 * util.c; it accepts only after the "status-ready" notification was answered). The exit connects
 * to it over loopback while answering that notification, so ferry's is normally the first
 * connection in the backlog. One that came in the few ms between CRIU's listen and ours would be
 * served instead, and ours reset when CRIU closes its listener: the tunnel breaks and the
 * migration fails (docs/workflows.md says what is left to a firewall). The entrance offers the pages
 * on a loopback port of the target, for one connection: the lazy-pages daemon ferry starts right
 * after. Both ends carry bytes only; what flows is CRIU's own page-server protocol.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { clientTls, serverTls } from './wire';

/** The tunnel's TLS key: derived from the transfer's key, so one key never serves two protocols. */
export function pageTunnelPsk(sessionPsk: Buffer, sessionId: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', sessionPsk, Buffer.from(sessionId, 'utf8'), Buffer.from('ferry lazy page tunnel v1', 'utf8'), 32));
}

/** PSK identity of the tunnel (the layer link uses the bare session id). */
const identityOf = (sessionId: string) => `${sessionId}/pages`;

export interface PageTunnelEntranceOptions {
  sessionId: string;
  /** The tunnel key (pageTunnelPsk). */
  psk: Buffer;
  /** Where the source's worker reaches this one (the direct address). */
  bindAddress: string;
  /** Closes if nobody used it within this long (ms). */
  idleLimitMs: number;
}

/** How a tunnel ended: bytes each way, and why it ended if not cleanly. */
export interface TunnelEnd {
  bytesToTarget: number;
  bytesToSource: number;
  error: string | null;
}

/**
 * The target's end. Takes one TLS connection that proves the tunnel key and one loopback
 * connection (the lazy-pages daemon), and joins them; either can come first.
 */
export class PageTunnelEntrance {
  private remote: tls.TLSSocket | null = null;
  private local: net.Socket | null = null;
  private closed = false;
  private settle!: (end: TunnelEnd) => void;
  /** Settles when the joined tunnel ends, or the entrance closes unused. Never rejects. */
  readonly ended: Promise<TunnelEnd>;

  private constructor(
    private readonly remoteServer: tls.Server,
    private readonly localServer: net.Server,
  ) {
    this.ended = new Promise((resolve) => (this.settle = resolve));
    remoteServer.on('secureConnection', (socket) => {
      if (this.remote || this.closed) return void socket.destroy();
      this.remote = socket;
      remoteServer.close(); // one source per migration
      this.joinIfBoth();
    });
    // A peer without the key fails the handshake: it changes nothing, the entrance keeps waiting.
    remoteServer.on('tlsClientError', () => undefined);
    localServer.on('connection', (socket) => {
      if (this.local || this.closed) return void socket.destroy();
      this.local = socket;
      localServer.close();
      this.joinIfBoth();
    });
  }

  static async open(opts: PageTunnelEntranceOptions): Promise<PageTunnelEntrance> {
    const remoteServer = tls.createServer(serverTls(identityOf(opts.sessionId), opts.psk));
    const localServer = net.createServer();
    await listen(remoteServer, 0, opts.bindAddress);
    try {
      // Loopback only: nothing off this host may ask for the process's memory.
      await listen(localServer, 0, '127.0.0.1');
    } catch (err) {
      remoteServer.close();
      throw err;
    }
    const entrance = new PageTunnelEntrance(remoteServer, localServer);
    const timer = setTimeout(() => entrance.close(`the tunnel was not used within ${opts.idleLimitMs} ms`), opts.idleLimitMs);
    timer.unref();
    void entrance.ended.finally(() => clearTimeout(timer));
    return entrance;
  }

  /** The port the source's worker connects to (on bindAddress). */
  get port(): number {
    return portOf(this.remoteServer);
  }

  /** The loopback port the lazy-pages daemon connects to. */
  get localPort(): number {
    return portOf(this.localServer);
  }

  /** Whether a source proved the key and is connected. */
  get sourceConnected(): boolean {
    return this.remote !== null;
  }

  close(reason = 'the tunnel was closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.remoteServer.close();
    this.localServer.close();
    this.remote?.destroy();
    this.local?.destroy();
    this.settle({ bytesToTarget: 0, bytesToSource: 0, error: reason });
  }

  private joinIfBoth(): void {
    if (!this.remote || !this.local) return;
    void join(this.local, this.remote).then((end) => {
      this.closed = true;
      this.settle({ bytesToTarget: end.aFromB, bytesToSource: end.bFromA, error: end.error });
    });
  }
}

export interface PageTunnelExitOptions {
  sessionId: string;
  psk: Buffer;
  /** The CRIU page server's port on this host's loopback. */
  criuPort: number;
  /** The target's entrance. */
  address: string;
  port: number;
  connectTimeoutMs: number;
}

/**
 * The source's end: connects to CRIU's page server on loopback and to the target's entrance,
 * and joins them. Resolves once both connections stand; `ended` tells when the pages stop.
 */
export async function openPageTunnelExit(opts: PageTunnelExitOptions): Promise<{ ended: Promise<TunnelEnd>; abort: (reason: string) => void }> {
  const criu = await connectPlain(opts.criuPort, opts.connectTimeoutMs);
  let remote: tls.TLSSocket;
  try {
    remote = await connectTls(opts);
  } catch (err) {
    criu.destroy();
    throw err;
  }
  const joined = join(remote, criu);
  return {
    ended: joined.then((end) => ({ bytesToTarget: end.aFromB, bytesToSource: end.bFromA, error: end.error })),
    abort: (reason) => {
      remote.destroy(new Error(reason));
      criu.destroy(new Error(reason));
    },
  };
}

function connectPlain(port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => fail(new Error(`CRIU's page server on 127.0.0.1:${port} did not accept within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`cannot reach CRIU's page server on 127.0.0.1:${port}: ${err.message}`));
    }
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

function connectTls(opts: PageTunnelExitOptions): Promise<tls.TLSSocket> {
  const where = `${opts.address}:${opts.port}`;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: opts.address, port: opts.port, ...clientTls(identityOf(opts.sessionId), opts.psk) });
    const timer = setTimeout(() => fail(new Error(`no answer within ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`cannot open the page tunnel to ${where}: ${err.message}`));
    }
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/**
 * Pipes two sockets into each other until both are closed. One side closing ends the other (after
 * what is queued for it, so the last pages are not dropped); one side failing destroys both at
 * once: a half-open page stream would leave the restored process waiting.
 */
function join(a: net.Socket, b: net.Socket): Promise<{ aFromB: number; bFromA: number; error: string | null }> {
  // The page protocol is request/response in small messages: with Nagle's algorithm each answer
  // waited for the peer's delayed ACK (~40 ms): 64 MiB took 51 s here instead of 4 s.
  a.setNoDelay(true);
  b.setNoDelay(true);
  return new Promise((resolve) => {
    let aFromB = 0;
    let bFromA = 0;
    let error: string | null = null;
    let closedCount = 0;
    a.on('data', (chunk: Buffer) => (bFromA += chunk.length));
    b.on('data', (chunk: Buffer) => (aFromB += chunk.length));
    a.pipe(b);
    b.pipe(a);
    const onError = (err: Error) => {
      error ??= err.message;
      a.destroy();
      b.destroy();
    };
    const onClose = (other: net.Socket) => () => {
      closedCount++;
      other.end();
      if (closedCount === 2) resolve({ aFromB, bFromA, error });
    };
    a.on('error', onError);
    b.on('error', onError);
    a.once('close', onClose(b));
    b.once('close', onClose(a));
  });
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function portOf(server: net.Server): number {
  const a = server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}

/** A TCP port free on every IPv4 address right now (CRIU's lazy dump must be given one). */
export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await listen(server, 0, '0.0.0.0');
  const port = portOf(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
