/**
 * The fuzz cases of test/integration/parser-fuzz.test.ts, run in a worker thread so that the test
 * can bound every case with a timer (a synchronous parser stuck in a loop cannot be interrupted
 * from its own thread) and catch an out-of-memory death (resourceLimits).
 *
 * Protocol: posts {type:'start', i, what} before each case, {type:'done', summary} at the end.
 * A case passes when the parser returns, or throws the module's typed error (ImagesInvalidError
 * for CRIU images, ManifestInvalid for manifests). Anything else (TypeError, RangeError, ...) is
 * a finding, reported with the case that produced it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { readChain } from '../../../src/criu/chain';
import { readLayer } from '../../../src/criu/images';
import { validateManifest } from '../../../src/storage/manifest';
import { isError, ImagesInvalidError, ManifestInvalid } from '../../../src/core';

export interface FuzzInput {
  seedDir: string;
  workDir: string;
  seed: number;
  imageCases: number;
  manifestCases: number;
}

export interface Finding {
  i: number;
  what: string;
  error: string;
}

export interface FuzzSummary {
  imageCases: number;
  imageParsed: number;
  imageTyped: number;
  chainProblems: number;
  manifestCases: number;
  manifestNotJson: number;
  manifestParsed: number;
  manifestTyped: number;
  /** Manifests validateManifest accepted although a field downstream code relies on has the wrong type. */
  manifestAcceptedIllTyped: Finding[];
  findings: Finding[];
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const randomBytes = (r: Rand, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 256)));

/** Offsets of the u32 length fields of an image's records (framing as in src/criu/image-file.ts). */
function lengthOffsets(name: string, bytes: Buffer): number[] {
  const out: number[] = [];
  let off = name === 'inventory.img' ? 4 : 8;
  while (off + 4 <= bytes.length) {
    out.push(off);
    off += 4 + bytes.readUInt32LE(off);
  }
  return out;
}

type Mutator = (r: Rand, orig: Buffer, name: string) => { bytes: Buffer; what: string };

const MUTATORS: Mutator[] = [
  (r, b) => {
    const out = Buffer.from(b);
    const n = 1 + int(r, 8);
    for (let k = 0; k < n && out.length > 0; k++) out[int(r, out.length)]! ^= 1 << int(r, 8);
    return { bytes: out, what: `flip ${n} bits` };
  },
  (r, b) => {
    const out = Buffer.from(b);
    const at = int(r, Math.max(1, out.length));
    const n = 1 + int(r, 16);
    randomBytes(r, n).copy(out, at);
    return { bytes: out, what: `overwrite ${n} bytes at ${at}` };
  },
  (r, b) => {
    const len = int(r, b.length);
    return { bytes: b.subarray(0, len), what: `truncate to ${len}` };
  },
  (r, b) => {
    const n = 1 + int(r, 64);
    return { bytes: Buffer.concat([b, randomBytes(r, n)]), what: `extend by ${n} random bytes` };
  },
  (r, b, name) => {
    const offs = lengthOffsets(name, b);
    const out = Buffer.from(b);
    if (offs.length === 0) return { bytes: out, what: 'no record to lengthen' };
    const at = pick(r, offs);
    const left = b.length - at - 4;
    const value = pick(r, [0xffffffff, 0x7fffffff, 0x80000000, 64 * 1024 * 1024 + 1, left + 1, left, Math.max(0, b.readUInt32LE(at) - 1), 0]);
    out.writeUInt32LE(value >>> 0, at);
    return { bytes: out, what: `record length at ${at} := ${value >>> 0}` };
  },
  (r) => {
    const n = int(r, 256);
    return { bytes: randomBytes(r, n), what: `${n} random bytes` };
  },
  (r, b) => {
    const at = int(r, b.length + 1);
    const n = 1 + int(r, 32);
    return { bytes: Buffer.concat([b.subarray(0, at), randomBytes(r, n), b.subarray(at)]), what: `insert ${n} bytes at ${at}` };
  },
  (_r, b) => ({ bytes: b.subarray(0, 0), what: 'empty' }),
  (r, b, name) => {
    const offs = lengthOffsets(name, b);
    if (offs.length === 0) return { bytes: b, what: 'no record to duplicate' };
    const at = pick(r, offs);
    const rec = b.subarray(at, Math.min(b.length, at + 4 + b.readUInt32LE(at)));
    return { bytes: Buffer.concat([b, rec, rec]), what: `duplicate the record at ${at} twice` };
  },
  (r, b, name) => {
    // Runaway varints inside a message: continuation bits set on a run of bytes.
    const offs = lengthOffsets(name, b);
    const out = Buffer.from(b);
    const start = offs.length ? pick(r, offs) + 4 : 0;
    const n = 1 + int(r, 12);
    for (let k = 0; k < n && start + k < out.length; k++) out[start + k]! |= 0x80;
    return { bytes: out, what: `continuation bits on ${n} bytes at ${start}` };
  },
  (r, b, name) => {
    // A valid-looking framing around a random protobuf body.
    const head = b.subarray(0, name === 'inventory.img' ? 4 : 8);
    const body = randomBytes(r, int(r, 48));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length, 0);
    return { bytes: Buffer.concat([head, len, body]), what: `magic + one random ${body.length}-byte record` };
  },
];

interface Special {
  what: string;
  make: (file: string) => void;
}

const SPECIALS: Special[] = [
  { what: 'a symlink to /dev/zero', make: (f) => fs.symlinkSync('/dev/zero', f) },
  { what: 'a symlink to itself', make: (f) => fs.symlinkSync(path.basename(f), f) },
  { what: 'a directory', make: (f) => fs.mkdirSync(f) },
  { what: 'a FIFO', make: (f) => execFileSync('mkfifo', [f]) },
  { what: 'missing', make: () => undefined },
];

const PARENT_TARGETS = ['../nowhere', '../child', '.', '/', '../layer/inventory.img', '/dev/zero', '../layer/../layer', 'x'.repeat(300), '../loop'];

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.slice(0, 300)}\n${(err.stack ?? '').split('\n').slice(1, 4).join('\n')}`;
  return String(err);
}

function runImages(input: FuzzInput, r: Rand, s: FuzzSummary, post: (i: number, what: string) => void): void {
  const layer = path.join(input.workDir, 'layer');
  const child = path.join(input.workDir, 'child');
  const names = fs.readdirSync(input.seedDir);
  const targets = names.filter((n) => n === 'inventory.img' || n === 'pstree.img' || n === 'stats-dump' || /^pagemap-\d+\.img$/.test(n));
  const originals = new Map(targets.map((n) => [n, fs.readFileSync(path.join(input.seedDir, n))]));
  const restore = (dir: string, name: string): void => {
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, name), originals.get(name)!);
  };
  const pagesFile = names.find((n) => /^pages-\d+\.img$/.test(n));
  const pagesSize = pagesFile ? fs.statSync(path.join(input.seedDir, pagesFile)).size : 0;

  for (let i = 0; i < input.imageCases; i++) {
    const roll = r();
    let what: string;
    let undo: () => void;
    if (roll < 0.8) {
      const name = pick(r, targets);
      const dir = r() < 0.8 ? layer : child;
      const m = pick(r, MUTATORS)(r, originals.get(name)!, name);
      what = `${path.basename(dir)}/${name}: ${m.what}`;
      fs.writeFileSync(path.join(dir, name), m.bytes);
      undo = () => restore(dir, name);
    } else if (roll < 0.88) {
      const name = pick(r, targets);
      const sp = pick(r, SPECIALS);
      what = `layer/${name}: ${sp.what}`;
      fs.rmSync(path.join(layer, name), { force: true });
      sp.make(path.join(layer, name));
      undo = () => restore(layer, name);
    } else if (roll < 0.95) {
      const target = pick(r, PARENT_TARGETS);
      what = `child/parent -> ${target.length > 40 ? `${target.slice(0, 10)}...(${target.length})` : target}`;
      fs.rmSync(path.join(child, 'parent'), { force: true });
      fs.symlinkSync(target, path.join(child, 'parent'));
      if (target === '../loop') fs.symlinkSync('child', path.join(input.workDir, 'loop'));
      undo = () => {
        fs.rmSync(path.join(child, 'parent'), { force: true });
        fs.rmSync(path.join(input.workDir, 'loop'), { force: true });
        fs.symlinkSync('../layer', path.join(child, 'parent'));
      };
    } else if (pagesFile) {
      const size = pick(r, [0, int(r, pagesSize), pagesSize + 4096, pagesSize + 1]);
      what = `layer/${pagesFile}: resized to ${size}`;
      fs.truncateSync(path.join(layer, pagesFile), size);
      undo = () => fs.copyFileSync(path.join(input.seedDir, pagesFile), path.join(layer, pagesFile));
    } else {
      continue;
    }
    post(i, what);
    s.imageCases++;
    for (const step of [() => readLayer(layer), () => readChain(child)]) {
      try {
        const out = step();
        if ('problems' in out && !('layers' in out)) s.imageParsed++;
        if ('layers' in out && !out.consistent) s.chainProblems++;
      } catch (err) {
        if (isError(err, ImagesInvalidError)) s.imageTyped++;
        else s.findings.push({ i, what, error: describeError(err) });
      }
    }
    undo();
  }
}

// ---- manifests ------------------------------------------------------------------------------

function baseManifest(): Record<string, unknown> {
  const layer = (index: number, kind: string) => ({
    index,
    kind,
    parentIndex: index === 0 ? null : index - 1,
    files: [
      { name: 'inventory.img', size: 86, sha256: 'a'.repeat(64) },
      { name: `pages-1.img`, size: 4096 * (index + 1), sha256: 'b'.repeat(64) },
    ],
    bytes: 86 + 4096 * (index + 1),
    criuVersion: '4.1.1',
    kernel: '6.18.0',
    host: 'node-a',
    process: { pid: 4242, startTime: 123456, bootId: '0f0e0d0c-0000-4000-8000-000000000000', comm: 'workload' },
    stats: { frozenTimeUs: 1000, memdumpTimeUs: 800, pagesScanned: 1024, pagesWritten: 1024, pagesSkippedParent: 0 },
    storedAt: '2026-11-26T06:00:00.000Z',
  });
  return {
    formatVersion: 1,
    checkpointId: 'node-a-4242-0123abcd',
    complete: true,
    createdAt: '2026-11-26T06:00:00.000Z',
    completedAt: '2026-11-26T06:01:00.000Z',
    layers: [layer(0, 'pre-dump'), layer(1, 'pre-dump'), layer(2, 'dump')],
    baseLayers: [],
  };
}

const NASTY: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', 'NaN', '-1', ' ', '\u0000', '../../etc/passwd', 'a/b', 'parent',
  'x'.repeat(1 << 20), [], {}, [[[[[]]]]], JSON.parse('{"__proto__": {"polluted": true}}'), Array.from({ length: 10000 }, () => ({})), '\ud800', 'é'.repeat(100),
];

/** Every [container, key] in a JSON value, for structural mutations. */
function slots(v: unknown, out: Array<[Record<string, unknown> | unknown[], string | number]> = []): typeof out {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots((v as Record<string, unknown>)[k], out);
    }
  }
  return out;
}

function mutateManifest(r: Rand): { text: string; what: string } {
  const base = baseManifest();
  const roll = r();
  if (roll < 0.5) {
    const all = slots(base);
    const [container, key] = pick(r, all);
    const op = int(r, 4);
    const label = `${Array.isArray(container) ? '[]' : ''}${String(key)}`;
    if (op === 0 && !Array.isArray(container)) {
      delete (container as Record<string, unknown>)[key as string];
      return { text: JSON.stringify(base), what: `delete ${label}` };
    }
    if (op === 1 && !Array.isArray(container)) {
      (container as Record<string, unknown>)[pick(r, ['__proto__', 'constructor', 'extra', 'toString'])] = pick(r, NASTY);
      return { text: JSON.stringify(base), what: `add a key next to ${label}` };
    }
    const value = pick(r, NASTY);
    (container as Record<string | number, unknown>)[key] = value;
    const shown = typeof value === 'string' && value.length > 20 ? `string(${value.length})` : Array.isArray(value) && value.length > 5 ? `array(${value.length})` : JSON.stringify(value);
    return { text: JSON.stringify(base), what: `${label} := ${shown}` };
  }
  const text = JSON.stringify(base);
  const b = Buffer.from(text);
  if (roll < 0.65) {
    const at = int(r, b.length);
    b[at] = pick(r, [0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x2d, 0x65, int(r, 256)]);
    return { text: b.toString('utf8'), what: `byte ${at} changed` };
  }
  if (roll < 0.75) {
    const len = int(r, b.length);
    return { text: text.slice(0, len), what: `truncated to ${len}` };
  }
  if (roll < 0.85) {
    const at = int(r, text.length);
    const n = 1 + int(r, 40);
    return { text: text.slice(0, at) + text.slice(at + n), what: `deleted ${n} chars at ${at}` };
  }
  if (roll < 0.92) {
    const depth = pick(r, [100, 5000, 100000]);
    return { text: text.replace('"baseLayers":[]', `"baseLayers":${'['.repeat(depth)}${']'.repeat(depth)}`), what: `baseLayers nested ${depth} deep` };
  }
  const at = int(r, text.length);
  const from = int(r, text.length);
  const n = 1 + int(r, 200);
  return { text: text.slice(0, at) + text.slice(from, from + n) + text.slice(at), what: `copied ${n} chars from ${from} to ${at}` };
}

/** Whether an accepted manifest has the field types the rest of ferry reads without checking again. */
function illTyped(m: Record<string, unknown>): string | null {
  for (const [i, l] of (m.layers as Array<Record<string, unknown>>).entries()) {
    const p = l.process as Record<string, unknown>;
    const st = l.stats as Record<string, unknown>;
    if (!Number.isSafeInteger(p.pid) || typeof p.startTime !== 'number' || typeof p.bootId !== 'string' || typeof p.comm !== 'string') return `layers[${i}].process is ${JSON.stringify(p).slice(0, 120)}`;
    for (const k of ['frozenTimeUs', 'memdumpTimeUs', 'pagesScanned', 'pagesWritten', 'pagesSkippedParent']) {
      if (typeof st[k] !== 'number') return `layers[${i}].stats.${k} is ${JSON.stringify(st[k]) ?? 'missing'}`;
    }
  }
  if (Number.isNaN(Date.parse(m.createdAt as string))) return `createdAt ${JSON.stringify(m.createdAt).slice(0, 40)} is not a time`;
  return null;
}

function runManifests(input: FuzzInput, r: Rand, s: FuzzSummary, post: (i: number, what: string) => void): void {
  for (let k = 0; k < input.manifestCases; k++) {
    const i = input.imageCases + k;
    const { text, what } = mutateManifest(r);
    post(i, `manifest: ${what}`);
    s.manifestCases++;
    let value: unknown;
    try {
      // As LayerStore.readManifest does: any JSON.parse failure there becomes ManifestInvalid.
      value = JSON.parse(text);
    } catch {
      s.manifestNotJson++;
      continue;
    }
    try {
      const m = validateManifest('fuzz/manifest.json', value, r() < 0.5 ? 'node-a-4242-0123abcd' : undefined);
      s.manifestParsed++;
      const bad = illTyped(m as unknown as Record<string, unknown>);
      if (bad && s.manifestAcceptedIllTyped.length < 20) s.manifestAcceptedIllTyped.push({ i, what, error: bad });
    } catch (err) {
      if (isError(err, ManifestInvalid)) s.manifestTyped++;
      else s.findings.push({ i, what: `manifest: ${what}`, error: describeError(err) });
    }
  }
}

export function runFuzz(input: FuzzInput, post: (i: number, what: string) => void): FuzzSummary {
  const s: FuzzSummary = {
    imageCases: 0,
    imageParsed: 0,
    imageTyped: 0,
    chainProblems: 0,
    manifestCases: 0,
    manifestNotJson: 0,
    manifestParsed: 0,
    manifestTyped: 0,
    manifestAcceptedIllTyped: [],
    findings: [],
  };
  const r = prng(input.seed);
  runImages(input, r, s, post);
  runManifests(input, r, s, post);
  return s;
}

if (parentPort && workerData) {
  const port = parentPort;
  const summary = runFuzz(workerData as FuzzInput, (i, what) => port.postMessage({ type: 'start', i, what }));
  port.postMessage({ type: 'done', summary });
}
