/**
 * The `request` event source: an HTTP endpoint on loopback and/or a Unix socket where an
 * application or an operator asks for a checkpoint by rule name and gets the workflow id back.
 *
 *   POST /v1/checkpoints  Authorization: Bearer <token>
 *   {"rule": "web", "deadline": "2026-11-29T14:00:00Z", "requestId": "deploy-4711"}
 *   -> 202 {"workflowId": "...", "workflows": [...]}   or a JSON error {"error": "...", "detail": "..."}
 *
 * Every request is authenticated before its body is read; the token is compared in constant time
 * (as SHA-256 digests, so its length leaks nothing either) and never logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { ConfigError } from '../config/config';
import { parseDeadline } from '../workflows/deadline-plan';

const MAX_BODY_BYTES = 16 * 1024;
const MAX_TOKEN_BYTES = 4096;
const MIN_TOKEN_CHARS = 16;

/** The bearer token's digest, from a file only its owner (this worker's user) can read. */
export function readTokenFile(file: string, uid: number | null = typeof process.getuid === 'function' ? process.getuid() : null): Buffer {
  const setting = 'FERRY_TRIGGER_TOKEN_FILE';
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new ConfigError(setting, `names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!st.isFile()) throw new ConfigError(setting, 'does not name a regular file');
  if ((st.mode & 0o077) !== 0) throw new ConfigError(setting, `names a file of mode ${(st.mode & 0o777).toString(8)}; others could read the token: chmod 600 it`);
  if (uid !== null && st.uid !== uid) throw new ConfigError(setting, `names a file owned by uid ${st.uid}, not by this worker's uid ${uid}`);
  if (st.size > MAX_TOKEN_BYTES) throw new ConfigError(setting, `names a file of ${st.size} bytes; a token is one line`);
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new ConfigError(setting, `names a file that does not hold one token of at least ${MIN_TOKEN_CHARS} characters without spaces (e.g. \`openssl rand -hex 32\`)`);
  }
  return digest(token);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether an Authorization header carries the token (constant time in the token's content). */
export function authorized(header: string | undefined, tokenDigest: Buffer): boolean {
  const m = /^Bearer ([^\s]+)$/.exec(header ?? '');
  const given = digest(m ? m[1]! : '');
  // Always compare, also without a header: the time taken says nothing about what was wrong.
  return timingSafeEqual(given, tokenDigest) && m !== null;
}

/** A checkpoint request as the endpoint accepted it. */
export interface CheckpointRequest {
  rule: string;
  deadlineMs: number | null;
  /** The caller's id for this request; identical requests without one are one event. */
  requestId: string | null;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** The request a body holds, or the 400 answer saying what is wrong with it. */
export function parseCheckpointRequest(text: string): CheckpointRequest | Answer {
  const bad = (detail: string): Answer => ({ status: 400, body: { error: 'bad-request', detail } });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad('the body is not JSON; send {"rule": "<rule name>", "deadline": "<ISO 8601 time>"}');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('the body is not a JSON object');
  const o = doc as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!['rule', 'deadline', 'requestId'].includes(key)) return bad(`unknown field ${JSON.stringify(key.slice(0, 40))} (fields: rule, deadline, requestId)`);
  if (typeof o.rule !== 'string' || o.rule === '' || o.rule.length > 64) return bad('"rule" must name a trigger rule');
  let deadlineMs: number | null = null;
  if (o.deadline !== undefined) {
    deadlineMs = parseDeadline(o.deadline);
    if (deadlineMs === null) return bad('"deadline" must be an ISO 8601 time with a zone, e.g. 2026-11-29T14:00:00Z');
  }
  let requestId: string | null = null;
  if (o.requestId !== undefined) {
    if (typeof o.requestId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(o.requestId)) return bad('"requestId" must be 1-128 printable characters');
    requestId = o.requestId;
  }
  return { rule: o.rule, deadlineMs, requestId };
}

export interface RequestServerOptions {
  listen?: { host: string; port: number };
  socket?: string;
  tokenDigest: Buffer;
  handle: (req: CheckpointRequest) => Promise<Answer>;
  /** One line per request (never the token or the body). */
  log?: (line: string) => void;
}

export interface RequestServer {
  /** Where it listens: "127.0.0.1:7310", "unix:/run/ferry.sock". */
  addresses: string[];
  close(): Promise<void>;
}

function send(res: http.ServerResponse, a: Answer, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(a.body);
  res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function requestListener(opts: RequestServerOptions) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const done = (a: Answer, extra?: Record<string, string>): void => {
      opts.log?.(`${req.method ?? '?'} ${(req.url ?? '').slice(0, 80)} -> ${a.status}${a.body.error ? ` ${String(a.body.error)}` : ''}`);
      send(res, a, extra);
    };
    if (!authorized(req.headers.authorization, opts.tokenDigest)) {
      done({ status: 401, body: { error: 'unauthorized', detail: 'send Authorization: Bearer <token> with the token of FERRY_TRIGGER_TOKEN_FILE' } }, { 'www-authenticate': 'Bearer' });
      req.resume();
      return;
    }
    if (req.url !== '/v1/checkpoints') {
      done({ status: 404, body: { error: 'not-found', detail: 'the endpoint is POST /v1/checkpoints' } });
      req.resume();
      return;
    }
    if (req.method !== 'POST') {
      done({ status: 405, body: { error: 'method-not-allowed', detail: 'use POST' } }, { allow: 'POST' });
      req.resume();
      return;
    }
    readBody(req)
      .then(async (text) => {
        if (text === null) return done({ status: 413, body: { error: 'too-large', detail: `the body is over ${MAX_BODY_BYTES} bytes` } });
        const parsed = parseCheckpointRequest(text);
        if ('status' in parsed) return done(parsed);
        done(await opts.handle(parsed));
      })
      .catch((err: unknown) => done({ status: 503, body: { error: 'unavailable', detail: (err as Error)?.message ?? String(err) } }));
  };
}

function newServer(opts: RequestServerOptions): http.Server {
  const s = http.createServer(requestListener(opts));
  // A request is a few hundred bytes: a client that trickles it is not waited for.
  s.headersTimeout = 5_000;
  s.requestTimeout = 10_000;
  return s;
}

function listen(server: http.Server, where: { port: number; host: string } | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ok = () => {
      server.removeListener('error', reject);
      resolve();
    };
    if (typeof where === 'string') server.listen(where, ok);
    else server.listen(where.port, where.host, ok);
  });
}

/** Replaces a socket left by an earlier worker; refuses to remove anything else at that path. */
function clearStaleSocket(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ConfigError('FERRY_TRIGGER_SOCKET', `names ${file}, which exists and is not a socket; choose another path`);
  fs.unlinkSync(file);
}

export async function startRequestServer(opts: RequestServerOptions): Promise<RequestServer> {
  const servers: http.Server[] = [];
  const addresses: string[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    if (opts.socket) fs.rmSync(opts.socket, { force: true });
  };
  try {
    if (opts.listen) {
      const s = newServer(opts);
      servers.push(s);
      await listen(s, opts.listen);
      const a = s.address();
      addresses.push(typeof a === 'object' && a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : String(a));
    }
    if (opts.socket) {
      clearStaleSocket(opts.socket);
      const s = newServer(opts);
      servers.push(s);
      // Created 600 from the start: no window in which another user could connect.
      const mask = process.umask(0o177);
      try {
        await listen(s, opts.socket);
      } finally {
        process.umask(mask);
      }
      addresses.push(`unix:${opts.socket}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { addresses, close };
}
