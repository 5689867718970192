/**
 * The direct link between two workers, on real sockets: layers move over TLS-PSK with a key both
 * sides derive from one-transfer key pairs, land where a pull would put them, and anything else
 * (another key, a file name that is not an image's, a chain with a hole) is refused and leaves
 * nothing behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { DirectReceiver } from '../../src/direct/receiver';
import { DirectLinkError, sendLayers } from '../../src/direct/sender';
import { newSessionKeyPair, parsePublicKey, sessionPsk } from '../../src/direct/session-keys';
import { clientTls, encodeFrame, serverTls, SocketReader } from '../../src/direct/wire';
import { removeTempRoots, tempRoot } from '../helpers/temp-dirs';

afterAll(removeTempRoots);

function keysFor(sessionId: string) {
  const sender = newSessionKeyPair();
  const receiver = newSessionKeyPair();
  const peers = { sessionId, senderPublicKey: sender.publicKey, receiverPublicKey: receiver.publicKey };
  return { senderPsk: sessionPsk(sender.privateKey, receiver.publicKey, peers), receiverPsk: sessionPsk(receiver.privateKey, sender.publicKey, peers) };
}

function writeLayer(dir: string, files: Record<string, Buffer>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), bytes);
  return dir;
}

async function receiver(intoDir: string, sessionId: string, psk: Buffer) {
  return DirectReceiver.listen({ sessionId, psk, intoDir, bindAddress: '127.0.0.1', port: 0, idleLimitMs: 30_000 });
}

describe('one-transfer keys', () => {
  test('both sides derive the same key; a third key pair derives another', () => {
    const k = keysFor('s1');
    expect(k.senderPsk.equals(k.receiverPsk)).toBe(true);
    expect(k.senderPsk).toHaveLength(32);
    const intruder = newSessionKeyPair();
    const receiverPub = newSessionKeyPair().publicKey;
    const forged = sessionPsk(intruder.privateKey, receiverPub, { sessionId: 's1', senderPublicKey: intruder.publicKey, receiverPublicKey: receiverPub });
    expect(forged.equals(k.senderPsk)).toBe(false);
  });

  test('a public key that is not raw X25519 in base64 is refused', () => {
    expect(parsePublicKey('not a key')).toBeNull();
    expect(parsePublicKey(Buffer.alloc(31).toString('base64'))).toBeNull();
    expect(parsePublicKey(newSessionKeyPair().publicKey)).not.toBeNull();
  });
});

describe('direct layer transfer over TLS-PSK', () => {
  test('sends the layers the receiver lacks, each with its parent link, and reports the chain', async () => {
    const src = tempRoot('direct-src');
    const dst = tempRoot('direct-dst');
    const big = crypto.randomBytes(9 * 1024 * 1024 + 17);
    const l0 = writeLayer(path.join(src, 'layer-0'), { 'pages-1.img': crypto.randomBytes(4096) });
    const l1 = writeLayer(path.join(src, 'layer-1'), { 'pages-1.img': big, 'pagemap-1.img': Buffer.from('map'), 'empty.img': Buffer.alloc(0) });
    fs.symlinkSync('../layer-0', path.join(l1, 'parent'));
    // The target prefetched layer 0 already.
    writeLayer(path.join(dst, 'layer-0'), { 'pages-1.img': fs.readFileSync(path.join(l0, 'pages-1.img')) });
    const k = keysFor('move-1');
    const r = await receiver(dst, 'move-1', k.receiverPsk);
    const progress: number[] = [];
    const sent = await sendLayers({ address: '127.0.0.1', port: r.port, sessionId: 'move-1', psk: k.senderPsk, layers: [{ index: 1, dir: l1 }, { index: 0, dir: l0 }], connectTimeoutMs: 5000, onProgress: (n) => progress.push(n) });
    expect(sent).toEqual({ imagesDir: path.join(dst, 'layer-1'), bytes: big.length + 3, layersSent: [1] });
    expect(fs.readFileSync(path.join(dst, 'layer-1', 'pages-1.img')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(dst, 'layer-1', 'empty.img'))).toHaveLength(0);
    expect(fs.readlinkSync(path.join(dst, 'layer-1', 'parent'))).toBe('../layer-0');
    expect((fs.statSync(path.join(dst, 'layer-1', 'pages-1.img')).mode & 0o777).toString(8)).toBe('600');
    expect(progress[progress.length - 1]).toBe(big.length + 3);
    await expect(r.outcome).resolves.toMatchObject({ layers: [1], bytes: big.length + 3 });
  });

  test('a sender with another key cannot connect, and the receiver still serves the right one', async () => {
    const src = tempRoot('direct-src');
    const dst = tempRoot('direct-dst');
    const l0 = writeLayer(path.join(src, 'layer-0'), { 'core.img': Buffer.from('core') });
    const k = keysFor('move-2');
    const r = await receiver(dst, 'move-2', k.receiverPsk);
    const wrong = keysFor('move-2').senderPsk;
    const attempt = sendLayers({ address: '127.0.0.1', port: r.port, sessionId: 'move-2', psk: wrong, layers: [{ index: 0, dir: l0 }], connectTimeoutMs: 5000 });
    await expect(attempt).rejects.toThrow(DirectLinkError);
    await expect(attempt).rejects.toThrow(/TLS handshake failed/);
    expect(fs.readdirSync(dst)).toEqual([]);
    const sent = await sendLayers({ address: '127.0.0.1', port: r.port, sessionId: 'move-2', psk: k.senderPsk, layers: [{ index: 0, dir: l0 }], connectTimeoutMs: 5000 });
    expect(sent.layersSent).toEqual([0]);
  });

  test('a chain with a hole is refused: nothing claims to be restorable', async () => {
    const src = tempRoot('direct-src');
    const dst = tempRoot('direct-dst');
    const l2 = writeLayer(path.join(src, 'layer-2'), { 'core.img': Buffer.from('core') });
    const k = keysFor('move-3');
    const r = await receiver(dst, 'move-3', k.receiverPsk);
    await expect(sendLayers({ address: '127.0.0.1', port: r.port, sessionId: 'move-3', psk: k.senderPsk, layers: [{ index: 2, dir: l2 }], connectTimeoutMs: 5000 })).rejects.toThrow(
      /refused the transfer: the chain is incomplete here: layers 0, 1 reached this host neither/,
    );
    await expect(r.outcome).rejects.toThrow(/incomplete/);
  });

  test('a file name that is not an image file is refused before anything is written', async () => {
    const dst = tempRoot('direct-dst');
    const k = keysFor('move-4');
    const r = await receiver(dst, 'move-4', k.receiverPsk);
    const socket = tls.connect({ host: '127.0.0.1', port: r.port, ...clientTls('move-4', k.senderPsk) });
    const reader = new SocketReader(socket);
    await expect(reader.frame()).resolves.toEqual({ type: 'hello', present: [] });
    socket.write(encodeFrame({ type: 'layer', index: 0, files: [{ name: '../../etc/cron.d/x', size: 4 }] }));
    socket.write('evil');
    await expect(reader.frame()).resolves.toMatchObject({ type: 'error', message: expect.stringMatching(/is not an image file name/) });
    socket.destroy();
    expect(fs.readdirSync(dst)).toEqual([]);
  });

  test('a receiver that dies mid-transfer ends the send with an error, not a wait without end', async () => {
    const src = tempRoot('direct-src');
    const l0 = writeLayer(path.join(src, 'layer-0'), { 'pages-1.img': crypto.randomBytes(64 * 1024 * 1024) });
    const k = keysFor('dies');
    // A receiver that says hello, takes a little, then vanishes (its socket destroyed, no reply).
    const server = tls.createServer(serverTls('dies', k.receiverPsk), (socket) => {
      socket.write(encodeFrame({ type: 'hello', present: [] }));
      socket.pause();
      setTimeout(() => socket.destroy(), 200);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(sendLayers({ address: '127.0.0.1', port, sessionId: 'dies', psk: k.senderPsk, layers: [{ index: 0, dir: l0 }], connectTimeoutMs: 5000 })).rejects.toThrow(
        /the direct transfer to 127\.0\.0\.1:\d+ broke off/,
      );
    } finally {
      server.close();
    }
  });

  test('nobody listening: the error says the connection was refused', async () => {
    const src = tempRoot('direct-src');
    const l0 = writeLayer(path.join(src, 'layer-0'), { 'core.img': Buffer.from('core') });
    const r = await receiver(tempRoot('direct-dst'), 'gone', keysFor('gone').receiverPsk);
    const port = r.port;
    r.close();
    await expect(sendLayers({ address: '127.0.0.1', port, sessionId: 'gone', psk: Buffer.alloc(32), layers: [{ index: 0, dir: l0 }], connectTimeoutMs: 5000 })).rejects.toThrow(/connection refused/);
  });
});
