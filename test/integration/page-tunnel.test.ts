/**
 * The page tunnel of a post-copy migration, on real sockets: bytes go both ways between a stand-in
 * for CRIU's page server (source loopback) and a stand-in for `criu lazy-pages` (target loopback)
 * through TLS-PSK with the migration's key; a peer without that key gets nothing and changes
 * nothing; the entrance serves one source and one local client only.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { freeTcpPort, openPageTunnelExit, PageTunnelEntrance, pageTunnelPsk } from '../../src/direct/page-tunnel';
import { newSessionKeyPair, sessionPsk } from '../../src/direct/session-keys';
import { clientTls } from '../../src/direct/wire';

const SESSION = 'run-0001';

function tunnelKey(sessionId: string): Buffer {
  const sender = newSessionKeyPair();
  const receiver = newSessionKeyPair();
  const peers = { sessionId, senderPublicKey: sender.publicKey, receiverPublicKey: receiver.publicKey };
  return pageTunnelPsk(sessionPsk(sender.privateKey, receiver.publicKey, peers), sessionId);
}

/** A page server stand-in: answers each request with `pages` bytes derived from it, then closes when asked. */
async function fakePageServer(pages: Buffer): Promise<{ port: number; accepted: () => number; close: () => void }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.on('data', (req: Buffer) => {
      if (req.toString() === 'bye') socket.end();
      else socket.write(pages);
    });
  });
  const port = await freeTcpPort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, accepted: () => accepted, close: () => server.close() };
}

/** Connects to `port` on loopback, sends `ask`, reads `want` bytes, then says bye. */
async function fetchThrough(port: number, ask: string, want: number): Promise<Buffer> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => socket.write(ask));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= want) socket.write('bye');
    });
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

describe('page tunnel', () => {
  test('carries the page stream both ways between the two loopbacks, with the byte counts', async () => {
    const psk = tunnelKey(SESSION);
    const pages = crypto.randomBytes(3 * 1024 * 1024 + 5);
    const criu = await fakePageServer(pages);
    const entrance = await PageTunnelEntrance.open({ sessionId: SESSION, psk, bindAddress: '127.0.0.1', idleLimitMs: 30_000 });
    // The lazy-pages daemon may connect before the source does: its bytes wait for the tunnel.
    const fetched = fetchThrough(entrance.localPort, 'page-request', pages.length);
    const exit = await openPageTunnelExit({ sessionId: SESSION, psk, criuPort: criu.port, address: '127.0.0.1', port: entrance.port, connectTimeoutMs: 5000 });
    const got = await fetched;
    expect(got.equals(pages)).toBe(true);
    const [atTarget, atSource] = await Promise.all([entrance.ended, exit.ended]);
    expect(atTarget).toEqual({ bytesToTarget: pages.length, bytesToSource: 'page-request'.length + 3, error: null });
    expect(atSource).toEqual({ bytesToTarget: pages.length, bytesToSource: 'page-request'.length + 3, error: null });
    expect(criu.accepted()).toBe(1);
    criu.close();
  });

  test('refuses a source without the key: it cannot connect, and the real source still can afterwards', async () => {
    const psk = tunnelKey(SESSION);
    const pages = crypto.randomBytes(64 * 1024);
    const criu = await fakePageServer(pages);
    const entrance = await PageTunnelEntrance.open({ sessionId: SESSION, psk, bindAddress: '127.0.0.1', idleLimitMs: 30_000 });
    // Same session id (it is in workflow history, not a secret), another key.
    await expect(openPageTunnelExit({ sessionId: SESSION, psk: tunnelKey(SESSION), criuPort: criu.port, address: '127.0.0.1', port: entrance.port, connectTimeoutMs: 5000 })).rejects.toThrow(
      /cannot open the page tunnel/,
    );
    // Plain TLS with no PSK at all is refused as well.
    await expect(
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: entrance.port, rejectUnauthorized: false });
        s.once('secureConnect', () => resolve('connected'));
        s.once('error', reject);
      }),
    ).rejects.toThrow();
    expect(entrance.sourceConnected).toBe(false);
    const fetched = fetchThrough(entrance.localPort, 'x', pages.length);
    const exit = await openPageTunnelExit({ sessionId: SESSION, psk, criuPort: criu.port, address: '127.0.0.1', port: entrance.port, connectTimeoutMs: 5000 });
    expect((await fetched).equals(pages)).toBe(true);
    await exit.ended;
    criu.close();
  });

  test('a source holding the key cannot read pages from a tunnel of another session id', async () => {
    const psk = tunnelKey(SESSION);
    const entrance = await PageTunnelEntrance.open({ sessionId: SESSION, psk, bindAddress: '127.0.0.1', idleLimitMs: 30_000 });
    const other = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: entrance.port, ...clientTls('run-0002/pages', psk) });
      s.once('secureConnect', () => resolve('connected'));
      s.once('error', (e) => resolve(`refused: ${e.message}`));
    });
    expect(other).toMatch(/^refused/);
    expect(entrance.sourceConnected).toBe(false);
    entrance.close();
    expect(await entrance.ended).toMatchObject({ error: 'the tunnel was closed' });
  });

  test('the exit fails when nothing listens on the page server port (the migration is then aborted)', async () => {
    const psk = tunnelKey(SESSION);
    const entrance = await PageTunnelEntrance.open({ sessionId: SESSION, psk, bindAddress: '127.0.0.1', idleLimitMs: 30_000 });
    const port = await freeTcpPort();
    await expect(openPageTunnelExit({ sessionId: SESSION, psk, criuPort: port, address: '127.0.0.1', port: entrance.port, connectTimeoutMs: 2000 })).rejects.toThrow(
      /cannot reach CRIU's page server on 127.0.0.1:\d+/,
    );
    entrance.close();
  });

  test('the entrance serves one local client: a second one is dropped', async () => {
    const psk = tunnelKey(SESSION);
    const entrance = await PageTunnelEntrance.open({ sessionId: SESSION, psk, bindAddress: '127.0.0.1', idleLimitMs: 30_000 });
    const first = net.connect({ host: '127.0.0.1', port: entrance.localPort });
    await new Promise((r) => first.once('connect', r));
    const second = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: entrance.localPort });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.once('close', () => resolve('closed'));
    });
    expect(['ECONNREFUSED', 'ECONNRESET', 'closed']).toContain(second);
    first.destroy();
    entrance.close();
  });
});
