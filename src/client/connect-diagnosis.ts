/**
 * Why a connection to Temporal failed, in terms of the settings that would fix it.
 *
 * The SDK does not say: the client's Connection reports every failure as "Failed to connect
 * before the deadline", and the worker's NativeConnection wraps Rust transport errors whose text
 * is not an interface. So after a failed connect, ferry retraces the first steps itself with
 * Node's own sockets and the same settings: a TCP connect, then a TLS handshake presenting the
 * same client certificate and trusting the same CA, then one HTTP/2 preface to learn whether the
 * server kept the connection (TLS 1.3 servers refuse a client certificate only after the client
 * believes the handshake is done).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TemporalSettings } from '../config/config';

export type ConnectProblem =
  /** No TCP connection: refused, no route, no such host, or no answer. */
  | { kind: 'unreachable'; detail: string }
  /** TLS is on and the server answered with something that is not TLS. */
  | { kind: 'not-tls' }
  /** ferry rejected the server's certificate: unknown CA, wrong name, expired. */
  | { kind: 'server-untrusted'; detail: string }
  /** The server ended the handshake: it wants a client certificate it trusts. */
  | { kind: 'client-refused'; detail: string }
  /** Transport is fine (TCP, and TLS when on): Temporal itself refused, or the failure is elsewhere. */
  | { kind: 'transport-ok' };

// A TLS client's own verdict on the server's certificate (Node's X509 verification codes).
const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
]);

// HTTP/2 client connection preface and an empty SETTINGS frame: a server that kept the connection answers with frames of its own.
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

function errCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message.split('\n')[0] ?? 'error';
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ConnectProblem | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ kind: 'unreachable', detail: `no answer within ${timeoutMs / 1000} s` });
    });
    socket.once('error', (err) => resolve({ kind: 'unreachable', detail: errCode(err) }));
  });
}

function tlsProbe(settings: TemporalSettings, host: string, port: number, timeoutMs: number): Promise<ConnectProblem> {
  const material = settings.secrets.connectionOptions().tls ?? {};
  const serverName = material.serverNameOverride ?? (net.isIP(host) ? undefined : host);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (problem: ConnectProblem) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(problem);
    };
    let secure = false;
    const socket = tls.connect({
      host,
      port,
      ...(serverName ? { servername: serverName } : {}),
      ...(material.serverRootCACertificate ? { ca: Buffer.from(material.serverRootCACertificate) } : {}),
      ...(material.clientCertPair ? { cert: Buffer.from(material.clientCertPair.crt), key: Buffer.from(material.clientCertPair.key) } : {}),
      ALPNProtocols: ['h2'],
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      secure = true;
      socket.write(H2_PREFACE);
    });
    socket.once('data', () => finish({ kind: 'transport-ok' }));
    socket.once('timeout', () => finish(secure ? { kind: 'transport-ok' } : { kind: 'unreachable', detail: `no TLS answer within ${timeoutMs / 1000} s` }));
    socket.once('error', (err) => {
      const code = errCode(err);
      if (SERVER_CERT_CODES.has(code)) return finish({ kind: 'server-untrusted', detail: code });
      if (!secure && /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|HTTP_REQUEST/.test(code + (err as Error).message)) return finish({ kind: 'not-tls' });
      finish({ kind: 'client-refused', detail: code });
    });
    // Closed without an error or a byte: the server hung up on the handshake.
    socket.once('close', () => finish({ kind: 'client-refused', detail: 'connection closed during the handshake' }));
  });
}

/** Retraces the connection with Node's sockets and says where it fails first. Never throws. */
export async function diagnoseConnection(settings: TemporalSettings, timeoutMs = 3000): Promise<ConnectProblem> {
  const { host, port } = splitAddress(settings.address);
  const tcp = await tcpProbe(host, port, timeoutMs);
  if (tcp) return tcp;
  if (settings.tls === false) return { kind: 'transport-ok' };
  return tlsProbe(settings, host, port, timeoutMs);
}

/** The user-facing sentence for a failed connect: what failed, where, and which setting to change. */
export function connectFailureMessage(settings: TemporalSettings, problem: ConnectProblem, sdkError: unknown): string {
  const at = `Temporal at ${settings.address}`;
  const from = settings.origin.address ? ` (from ${settings.origin.address})` : ' (the default: the dev stack)';
  const tls = settings.tls;
  switch (problem.kind) {
    case 'unreachable':
      return settings.origin.address
        ? `cannot reach ${at}${from}: ${problem.detail}; check ${settings.origin.address} (FERRY_TEMPORAL_ADDRESS wins over TEMPORAL_ADDRESS and the Temporal config file)`
        : `cannot reach ${at}${from}: ${problem.detail}; start the dev stack with \`ferry dev up\`, or set TEMPORAL_ADDRESS (or FERRY_TEMPORAL_ADDRESS, which wins) to your cluster`;
    case 'not-tls':
      return `cannot reach ${at}${from} over TLS: the server does not speak TLS, but TLS is on (from ${settings.origin.tls}); set TEMPORAL_TLS=false or fix the address`;
    case 'server-untrusted':
      return (
        `cannot reach ${at}${from}: ferry does not trust the server's certificate (${problem.detail}); ` +
        (tls && tls.serverCaFrom ? `it is not signed by the CA from ${tls.serverCaFrom}, or does not carry the name ${tls.serverName ?? splitAddress(settings.address).host}; ` : '') +
        'set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it, and TEMPORAL_TLS_SERVER_NAME if it was issued for another name'
      );
    case 'client-refused':
      return tls && tls.clientCertFrom
        ? `cannot reach ${at}${from}: the server refused the TLS handshake (${problem.detail}): it does not accept the client certificate from ${tls.clientCertFrom}; ` +
            'set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH to a certificate signed by a CA the server trusts'
        : `cannot reach ${at}${from}: the server refused the TLS handshake (${problem.detail}): it requires a client certificate and none is configured; ` +
            'set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or use a profile: TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE)';
    case 'transport-ok': {
      const reason = sdkError instanceof Error ? sdkError.message.split('\n')[0] : String(sdkError);
      return tls === false
        ? `cannot reach ${at}${from}: it accepts TCP connections but Temporal did not answer (${reason}); if the server requires TLS, set TEMPORAL_TLS=true ` +
            '(with TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or TEMPORAL_API_KEY, as it needs)'
        : `cannot reach ${at}${from}: TLS works but Temporal refused the connection (${reason}); check TEMPORAL_API_KEY and the namespace`;
    }
  }
}
