/**
 * Throwaway certificates for TLS tests, made with the real `openssl` command: a CA, a server
 * certificate for 127.0.0.1/localhost, a client certificate that CA signed, and a second CA with
 * a client certificate of its own that nothing trusts. Keys are EC P-256 in PKCS#8, which both
 * Node's TLS and the Temporal worker's Rust TLS stack accept.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface CertPair {
  certPath: string;
  keyPath: string;
}

export interface TestPki {
  dir: string;
  caPath: string;
  server: CertPair;
  client: CertPair;
  /** Signed by a CA of its own that the server does not trust. */
  untrustedClient: CertPair;
  untrustedCaPath: string;
}

function openssl(dir: string, args: string[]): void {
  // openssl prints progress on stderr even on success; only a failure matters, and throws.
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

function makeLeaf(dir: string, name: string, ca: { cert: string; key: string }, extensions: string[]): CertPair {
  const keyPath = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const certPath = path.join(dir, `${name}.pem`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, ['basicConstraints=CA:FALSE', ...extensions].join('\n') + '\n');
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(dir, [
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-extfile', ext, '-out', certPath,
  ]);
  return { certPath, keyPath };
}

/** Writes the whole set into `dir` (which the caller removes). Takes well under a second. */
export function makeTestPki(dir: string): TestPki {
  const ca = makeCa(dir, 'ferry-test-ca');
  const rogueCa = makeCa(dir, 'ferry-untrusted-ca');
  return {
    dir,
    caPath: ca.cert,
    server: makeLeaf(dir, 'server', ca, ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']),
    client: makeLeaf(dir, 'client', ca, ['extendedKeyUsage=clientAuth']),
    untrustedClient: makeLeaf(dir, 'untrusted-client', rogueCa, ['extendedKeyUsage=clientAuth']),
    untrustedCaPath: rogueCa.cert,
  };
}
