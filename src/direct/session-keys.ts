/**
 * The key of one direct transfer. Each side makes an X25519 key pair for this transfer only and
 * keeps the private half in its worker's memory; only the public halves travel, through the
 * workflow (they are not secrets, so history may hold them). Both sides then derive the same
 * 32-byte pre-shared key for TLS-PSK. Whoever lacks one of the two private keys cannot complete
 * the TLS handshake with either side: the link is authenticated both ways and encrypted, and
 * nothing that could open it is ever written down.
 */
import crypto from 'node:crypto';

export interface SessionKeyPair {
  /** Raw 32-byte X25519 public key, base64. */
  publicKey: string;
  privateKey: crypto.KeyObject;
}

/** Which side of the transfer a key pair belongs to: it orders the two halves in the derivation. */
export interface SessionPeers {
  sessionId: string;
  senderPublicKey: string;
  receiverPublicKey: string;
}

const RAW_X25519_PUBLIC = 32;
/** DER prefix of an X25519 SubjectPublicKeyInfo: the raw key follows it. */
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function newSessionKeyPair(): SessionKeyPair {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKey: der.subarray(SPKI_X25519_PREFIX.length).toString('base64'), privateKey };
}

/** A peer's public key as sent, or null if it is not a raw X25519 key in base64. */
export function parsePublicKey(b64: string): crypto.KeyObject | null {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(b64)) return null;
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== RAW_X25519_PUBLIC) return null;
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The transfer's pre-shared key, the same on both sides. */
export function sessionPsk(own: crypto.KeyObject, peerPublicKey: string, peers: SessionPeers): Buffer {
  const peer = parsePublicKey(peerPublicKey);
  if (!peer) throw new Error('the peer public key is not an X25519 key');
  const shared = crypto.diffieHellman({ privateKey: own, publicKey: peer });
  const info = `ferry direct layer transfer v1\n${peers.senderPublicKey}\n${peers.receiverPublicKey}`;
  return Buffer.from(crypto.hkdfSync('sha256', shared, Buffer.from(peers.sessionId, 'utf8'), Buffer.from(info, 'utf8'), 32));
}
