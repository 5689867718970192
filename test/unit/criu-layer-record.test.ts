/**
 * ferry's layer record (ferry-layer.json) and the parent-fingerprint check of the chain, on layers
 * built here byte by byte with CRIU's framing. The integration test (criu-driver.test.ts) checks the
 * same on images written by real CRIU.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readChain } from '../../src/criu/chain';
import { encodeMessage } from '../../src/criu/codec';
import { checkPrevImagesDir } from '../../src/criu/images-dir';
import { LAYER_RECORD_FILE, LAYER_RECORD_FORMAT, fingerprintLayer, readLayerRecord, writeLayerRecord, type FerryLayerRecord } from '../../src/criu/layer-record';
import { readInventory } from '../../src/criu/images';
import { IMG_COMMON_MAGIC, INVENTORY_MAGIC, PAGEMAP_MAGIC, PE_PARENT, PE_PRESENT, PSTREE_MAGIC } from '../../src/criu/schema';
import type { ProcessIdentity } from '../../src/criu/types';
import { isError, ParentImagesInvalidError } from '../../src/core';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const framed = (msgs: Buffer[]): Buffer => Buffer.concat(msgs.flatMap((m) => [u32(m.length), m]));
type Entry = { vaddr: number; nrPages: number; flags: number };
const BASE = 0x7f0000000000;
const PID = 4242;
const BOOT = '11111111-2222-3333-4444-555555555555';
const PROC: ProcessIdentity = { pid: PID, startTime: 50, bootId: BOOT, comm: 'workload' };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-rec-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeLayer(dir: string, o: { uptime: number; preDump: boolean; entries: Entry[]; parent?: string }): string {
  fs.mkdirSync(dir, { recursive: true });
  const inv = encodeMessage('inventory_entry', { img_version: 2, fdinfo_per_id: true, dump_uptime: o.uptime, ...(o.preDump ? { pre_dump_mode: 1 } : {}) });
  fs.writeFileSync(path.join(dir, 'inventory.img'), Buffer.concat([u32(INVENTORY_MAGIC), framed([inv])]));
  const pm = [encodeMessage('pagemap_head', { pages_id: 1 }), ...o.entries.map((e) => encodeMessage('pagemap_entry', { vaddr: e.vaddr, nr_pages: e.nrPages, flags: e.flags }))];
  fs.writeFileSync(path.join(dir, `pagemap-${PID}.img`), Buffer.concat([u32(IMG_COMMON_MAGIC), u32(PAGEMAP_MAGIC), framed(pm)]));
  const present = o.entries.filter((e) => e.flags & PE_PRESENT).reduce((n, e) => n + e.nrPages, 0);
  fs.writeFileSync(path.join(dir, 'pages-1.img'), Buffer.alloc(present * 4096));
  if (!o.preDump) {
    const entry = encodeMessage('pstree_entry', { pid: PID, ppid: 1, pgid: PID, sid: PID, threads: [PID] });
    fs.writeFileSync(path.join(dir, 'pstree.img'), Buffer.concat([u32(IMG_COMMON_MAGIC), u32(PSTREE_MAGIC), framed([entry])]));
  }
  if (o.parent) fs.symlinkSync(o.parent, path.join(dir, 'parent'));
  return dir;
}

/** What the driver writes after a dump: the parent's fingerprint, taken from the parent it used. */
function record(dir: string, kind: 'pre-dump' | 'dump', parentDir: string | null, proc = PROC): void {
  const parent = parentDir ? fingerprintLayer(parentDir, readInventory(parentDir).dumpUptimeUs, PID, BOOT) : null;
  writeLayerRecord(dir, { format: LAYER_RECORD_FORMAT, kind, process: proc, dumpUptimeUs: readInventory(dir).dumpUptimeUs, parent });
}

const full = (n: number): Entry => ({ vaddr: BASE, nrPages: n, flags: PE_PRESENT });

/** The tutorial's chain as ferry writes it: pre1 <- pre2 <- final, each with its record. */
function recordedChain(root: string): { p1: string; p2: string; final: string } {
  const p1 = writeLayer(path.join(root, 'pre1'), { preDump: true, uptime: 1_000_000, entries: [full(100)] });
  record(p1, 'pre-dump', null);
  const p2 = writeLayer(path.join(root, 'pre2'), {
    preDump: true, uptime: 2_000_000, parent: '../pre1',
    entries: [{ vaddr: BASE, nrPages: 90, flags: PE_PARENT }, { vaddr: BASE + 90 * 4096, nrPages: 10, flags: PE_PRESENT }],
  });
  record(p2, 'pre-dump', p1);
  const final = writeLayer(path.join(root, 'final'), {
    preDump: false, uptime: 3_000_000, parent: '../pre2',
    entries: [{ vaddr: BASE, nrPages: 95, flags: PE_PARENT }, { vaddr: BASE + 95 * 4096, nrPages: 5, flags: PE_PRESENT }],
  });
  record(final, 'dump', p2);
  return { p1, p2, final };
}

describe('ferry layer record', () => {
  it('is written 0600, exclusively, and read back', () => {
    const { p1, final } = recordedChain(path.join(tmp, 'c'));
    expect(fs.statSync(path.join(final, LAYER_RECORD_FILE)).mode & 0o777).toBe(0o600);
    expect(() => record(final, 'dump', p1)).toThrow(/EEXIST/);
    const read = readLayerRecord(final) as { record: FerryLayerRecord };
    expect(read.record.kind).toBe('dump');
    expect(read.record.parent).toMatchObject({ dumpUptimeUs: 2_000_000, bootId: BOOT, pid: PID });
    expect(read.record.parent!.inventorySha256).toMatch(/^[0-9a-f]{64}$/);
    expect((readLayerRecord(p1) as { record: FerryLayerRecord }).record.parent).toBeNull();
    expect(readLayerRecord(tmp)).toBeNull();
  });

  it('reports an unusable record instead of trusting it', () => {
    const dir = path.join(tmp, 'x');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, LAYER_RECORD_FILE), '{not json');
    expect(readLayerRecord(dir)).toEqual({ problem: expect.stringMatching(/not valid JSON/) });
    fs.writeFileSync(path.join(dir, LAYER_RECORD_FILE), JSON.stringify({ format: 99 }));
    expect(readLayerRecord(dir)).toEqual({ problem: expect.stringMatching(/format 99; this ferry reads format 1/) });
    fs.writeFileSync(path.join(dir, LAYER_RECORD_FILE), JSON.stringify({ format: 1, kind: 'dump', process: PROC, dumpUptimeUs: 1, parent: { bootId: 'x' } }));
    expect(readLayerRecord(dir)).toEqual({ problem: expect.stringMatching(/malformed parent fingerprint/) });
    fs.rmSync(path.join(dir, LAYER_RECORD_FILE));
    fs.symlinkSync('/dev/zero', path.join(dir, LAYER_RECORD_FILE));
    expect(readLayerRecord(dir)).toEqual({ problem: expect.stringMatching(/symlink/) });
  });
});

describe('readChain with parent fingerprints', () => {
  it('verifies every recorded link of a good chain', () => {
    const { final } = recordedChain(path.join(tmp, 'c'));
    const chain = readChain(final);
    expect(chain.problems).toEqual([]);
    expect(chain.parentChecks).toEqual(['none', 'verified', 'verified']);
  });

  it('catches a final dump relinked to an older pre-dump when the skipped one is absent', () => {
    const { p1, final } = recordedChain(path.join(tmp, 'c'));
    // The copy the lab could not catch: only pre1 and final, final relinked to pre1.
    const copy = path.join(tmp, 'copy');
    fs.cpSync(p1, path.join(copy, 'pre1'), { recursive: true });
    fs.cpSync(final, path.join(copy, 'final'), { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(copy, 'final', 'parent'));
    fs.symlinkSync('../pre1', path.join(copy, 'final', 'parent'));
    const chain = readChain(path.join(copy, 'final'));
    expect(chain.consistent).toBe(false);
    expect(chain.parentChecks).toEqual(['none', 'mismatch']);
    expect(chain.problems.join('\n')).toMatch(
      new RegExp(`layer ${path.join(copy, 'final')} was dumped against a different parent than the one its parent link points to \\(${path.join(copy, 'pre1')}\\): dump uptime 2000000 us expected, 1000000 us found; inventory.img sha256 .* expected`),
    );
    // The same relink without ferry's records passes every image-only check: the gap this closes.
    fs.rmSync(path.join(copy, 'final', LAYER_RECORD_FILE));
    fs.rmSync(path.join(copy, 'pre1', LAYER_RECORD_FILE));
    const plain = readChain(path.join(copy, 'final'));
    expect(plain.problems).toEqual([]);
    expect(plain.parentChecks).toEqual(['none', 'not-fingerprinted']);
  });

  it('catches a parent whose images were swapped for other content with the same dump time', () => {
    const { p2, final } = recordedChain(path.join(tmp, 'c'));
    // Same uptime, different pagemap (one more present page in another place): a different layer.
    fs.rmSync(path.join(p2, `pagemap-${PID}.img`));
    const pm = [encodeMessage('pagemap_head', { pages_id: 1 }), encodeMessage('pagemap_entry', { vaddr: BASE, nr_pages: 100, flags: PE_PRESENT })];
    fs.writeFileSync(path.join(p2, `pagemap-${PID}.img`), Buffer.concat([u32(IMG_COMMON_MAGIC), u32(PAGEMAP_MAGIC), framed(pm)]));
    fs.writeFileSync(path.join(p2, 'pages-1.img'), Buffer.alloc(100 * 4096));
    const chain = readChain(final);
    expect(chain.parentChecks).toEqual(['none', 'verified', 'mismatch']);
    expect(chain.problems.join('\n')).toMatch(/dumped against a different parent .*pagemap-4242.img sha256 \w+ expected, \w+ found/);
  });

  it('catches a parent of another process (same pid, other start time) and a link added to a first layer', () => {
    const root = path.join(tmp, 'o');
    const other = writeLayer(path.join(root, 'other'), { preDump: true, uptime: 1_000_000, entries: [full(100)] });
    record(other, 'pre-dump', null, { ...PROC, startTime: 7 });
    const mine = writeLayer(path.join(root, 'mine'), { preDump: false, uptime: 3_000_000, parent: '../other', entries: [{ vaddr: BASE, nrPages: 100, flags: PE_PARENT }] });
    record(mine, 'dump', other);
    expect(readChain(mine).problems.join('\n')).toMatch(/process pid 4242 started at 50 .* expected, the parent is of pid 4242 started at 7/);
    fs.rmSync(path.join(mine, LAYER_RECORD_FILE));
    record(mine, 'dump', null);
    expect(readChain(mine).problems.join('\n')).toMatch(/was dumped without a parent \(its ferry record says so\), but its parent link points to/);
  });

  it('catches a recorded layer whose parent link was lost', () => {
    const { final } = recordedChain(path.join(tmp, 'c'));
    fs.rmSync(path.join(final, 'parent'));
    const chain = readChain(final);
    expect(chain.parentChecks).toEqual(['mismatch']);
    expect(chain.problems.join('\n')).toMatch(/was dumped against a parent .* but has no parent link/);
  });

  it('refuses, at dump time, a parent layer recorded for another process', () => {
    const { p2 } = recordedChain(path.join(tmp, 'c'));
    const next = path.join(tmp, 'c', 'next');
    fs.mkdirSync(next);
    const reused: ProcessIdentity = { ...PROC, startTime: 0 };
    let err: unknown;
    try {
      checkPrevImagesDir(p2, next, reused);
    } catch (e) {
      err = e;
    }
    expect(isError(err, ParentImagesInvalidError)).toBe(true);
    expect((err as Error).message).toMatch(/it is a layer of pid 4242 \(workload\) started at tick 50 .*not of pid 4242 \(workload\) started at tick 0/);
  });
});
