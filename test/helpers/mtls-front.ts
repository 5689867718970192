/**
 * A mutual-TLS front for a plain gRPC server. `temporal server start-dev` has no TLS options, so
 * tests of ferry's client certificates put this in front of a real dev server: it completes a
 * TLS handshake only with a client certificate its CA signed, then pipes the bytes through to the
 * server's plain port. gRPC's HTTP/2 runs end to end; the front never parses it.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export interface MtlsFrontOptions {
  /** host:port of the plain server behind the front. */
  upstream: string;
  certPath: string;
  keyPath: string;
  /** CA whose client certificates are accepted; no other. */
  clientCaPath: string;
}

export class MtlsFront {
  /** Why the front refused handshakes, in order (Node's TLS error codes). */
  readonly refusals: string[] = [];
  /** Handshakes that completed: connections piped to the server. */
  accepted = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: tls.Server | null = null;
  port = 0;

  constructor(private readonly options: MtlsFrontOptions) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const [upHost, upPort] = splitHostPort(this.options.upstream);
    const server = tls.createServer(
      {
        key: fs.readFileSync(this.options.keyPath),
        cert: fs.readFileSync(this.options.certPath),
        ca: fs.readFileSync(this.options.clientCaPath),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (client) => {
        this.accepted++;
        const upstream = net.connect(upPort, upHost);
        this.track(client);
        this.track(upstream);
        client.pipe(upstream);
        upstream.pipe(client);
        // Either side ending or failing ends the pair: a half-open proxy would hang the SDK.
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        client.once('error', end).once('close', end);
        upstream.once('error', end).once('close', end);
      },
    );
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
      this.refusals.push(err.code ?? err.message);
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
