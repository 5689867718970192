/**
 * The CLI's reading of network endpoints for CRIU's page server and lazy pages: `ADDR:PORT` as
 * `--page-server` takes it, and the separate `--address` / `--port` of `ferry page-server`.
 *
 * Two rules, because CRIU has two: the side that connects resolves a host name (getaddrinfo in
 * setup_tcp_client), while the side that listens takes only an IP literal (inet_pton in
 * get_sockaddr_in). Bad values are usage errors, raised before anything is touched.
 */
import net from 'node:net';
import { quoted } from './output';
import { UsageError } from './usage-error';

export interface Endpoint {
  /** An IPv4 or IPv6 literal (IPv6 without brackets, as CRIU takes it) or a host name. */
  address: string;
  port: number;
}

const FORMS = 'ADDR:PORT, where ADDR is an IPv4 address (10.0.0.2), an IPv6 address in brackets ([fd00::2]) or a host name (dest.example)';

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const HOST_NAME_MAX = 253;

function isHostName(host: string): boolean {
  if (host.length > HOST_NAME_MAX) return false;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  // All-numeric dotted names would reach getaddrinfo as a (malformed) IPv4 address, not a name.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => LABEL.test(l));
}

/** A TCP port; `allowZero` where 0 means "let the kernel pick one" (a listening page server). */
export function parsePort(flag: string, raw: string, allowZero = false): number {
  const low = allowZero ? 0 : 1;
  const text = raw.trim();
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= low && port <= 65535)) {
    throw new UsageError(`${flag} must be a TCP port from ${low} to 65535${allowZero ? ' (0: any free port)' : ''}, got ${quoted(raw)}`);
  }
  return port;
}

/** `ADDR:PORT` of a page server to connect to: IPv4, `[IPv6]` or a host name, then a port. */
export function parseEndpoint(flag: string, raw: string): Endpoint {
  const text = raw.trim();
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw new UsageError(`${flag} ${quoted(raw)} is not ${FORMS}`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!net.isIPv6(host)) throw new UsageError(`${flag} ${quoted(raw)}: ${quoted(host)} in brackets is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new UsageError(`${flag} ${quoted(raw)} has no port: use ${FORMS}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      const hint = net.isIPv6(host) ? ` (write it [${host}]:${portText})` : '';
      throw new UsageError(`${flag} ${quoted(raw)}: an IPv6 address needs brackets${hint}; use ${FORMS}`);
    }
    if (!host) throw new UsageError(`${flag} ${quoted(raw)} has no address: use ${FORMS}`);
    if (!net.isIPv4(host) && !isHostName(host)) {
      const what = /^[\d.]+$/.test(host) ? 'not a valid IPv4 address' : 'not a valid host name';
      throw new UsageError(`${flag} ${quoted(raw)}: ${quoted(host)} is ${what}; use ${FORMS}`);
    }
  }
  return { address: host, port: parsePort(`${flag}'s port`, portText) };
}

/** The address a page server listens on: an IP literal only (CRIU does not resolve names there). */
export function parseListenAddress(flag: string, raw: string): string {
  const text = raw.trim();
  if (net.isIPv4(text) || net.isIPv6(text)) return text;
  const inBrackets = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : '';
  if (net.isIPv6(inBrackets)) return inBrackets;
  throw new UsageError(`${flag} must be an IPv4 or IPv6 address of this host (CRIU's page server does not resolve host names), got ${quoted(raw)}`);
}

/** `[fd00::2]:27` or `10.0.0.2:27`: how an endpoint is written back to a user. */
export function formatEndpoint(e: Endpoint): string {
  return `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
}
