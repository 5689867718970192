/**
 * Image parsers and the chain check, on image files built here byte by byte with CRIU's framing
 * (the integration tests check the same readers against images written by real CRIU).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeMessage } from '../../src/criu/codec';
import { readChain } from '../../src/criu/chain';
import { checkPrevImagesDir, prepareImagesDir, discardPartialImages } from '../../src/criu/images-dir';
import { parseInventory, parsePagemap, parseDumpStats, parseRestoreStats, parsePstree, readLayer } from '../../src/criu/images';
import {
  IMG_COMMON_MAGIC,
  IMG_SERVICE_MAGIC,
  INVENTORY_MAGIC,
  PAGEMAP_MAGIC,
  PE_PARENT,
  PE_PRESENT,
  PSTREE_MAGIC,
  STATS_MAGIC,
} from '../../src/criu/schema';
import type { ProcessIdentity } from '../../src/criu/types';
import { isError, ParentImagesInvalidError, ImagesInvalidError } from '../../src/core';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const framed = (msgs: Buffer[]): Buffer => Buffer.concat(msgs.flatMap((m) => [u32(m.length), m]));

function inventoryImg(inv: { dumpUptime?: number; preDumpMode?: number }): Buffer {
  const msg = encodeMessage('inventory_entry', {
    img_version: 2,
    fdinfo_per_id: true,
    ...(inv.dumpUptime !== undefined ? { dump_uptime: inv.dumpUptime } : {}),
    ...(inv.preDumpMode !== undefined ? { pre_dump_mode: inv.preDumpMode } : {}),
  });
  return Buffer.concat([u32(INVENTORY_MAGIC), framed([msg])]);
}

type Entry = { vaddr: number; nrPages: number; flags: number };
function pagemapImg(pagesId: number, entries: Entry[]): Buffer {
  return Buffer.concat([
    u32(IMG_COMMON_MAGIC),
    u32(PAGEMAP_MAGIC),
    framed([
      encodeMessage('pagemap_head', { pages_id: pagesId }),
      ...entries.map((e) => encodeMessage('pagemap_entry', { vaddr: e.vaddr, nr_pages: e.nrPages, flags: e.flags })),
    ]),
  ]);
}

function statsDumpImg(s: { frozen: number; written: number; skipped: number; scanned: number }): Buffer {
  const msg = encodeMessage('stats_entry', {
    dump: {
      freezing_time: 10,
      frozen_time: s.frozen,
      memdump_time: 5,
      memwrite_time: 4,
      pages_scanned: s.scanned,
      pages_skipped_parent: s.skipped,
      pages_written: s.written,
      pages_lazy: 0,
    },
  });
  return Buffer.concat([u32(IMG_SERVICE_MAGIC), u32(STATS_MAGIC), framed([msg])]);
}

const BASE = 0x7f0000000000;
let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-img-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes a layer: inventory, pagemap-<pid>.img with entries, pages-1.img sized to match, stats. */
function writeLayer(
  name: string,
  o: { pid?: number; uptime?: number; preDump: boolean; entries: Entry[]; parent?: string; pstree?: boolean },
): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const pid = o.pid ?? 4242;
  fs.writeFileSync(path.join(dir, 'inventory.img'), inventoryImg({ dumpUptime: o.uptime, ...(o.preDump ? { preDumpMode: 1 } : {}) }));
  fs.writeFileSync(path.join(dir, `pagemap-${pid}.img`), pagemapImg(1, o.entries));
  const present = o.entries.filter((e) => e.flags & PE_PRESENT).reduce((n, e) => n + e.nrPages, 0);
  const inParent = o.entries.filter((e) => e.flags & PE_PARENT).reduce((n, e) => n + e.nrPages, 0);
  fs.writeFileSync(path.join(dir, 'pages-1.img'), Buffer.alloc(present * 4096));
  fs.writeFileSync(path.join(dir, 'stats-dump'), statsDumpImg({ frozen: 1234, written: present, skipped: inParent, scanned: present + inParent }));
  if (o.pstree) {
    const entry = encodeMessage('pstree_entry', { pid, ppid: 1, pgid: pid, sid: pid, threads: [pid] });
    fs.writeFileSync(path.join(dir, 'pstree.img'), Buffer.concat([u32(IMG_COMMON_MAGIC), u32(PSTREE_MAGIC), framed([entry])]));
  }
  if (o.parent) fs.symlinkSync(o.parent, path.join(dir, 'parent'));
  return dir;
}

describe('image parsers', () => {
  it('reads an inventory with dump time and pre-dump mode', () => {
    const inv = parseInventory('inventory.img', inventoryImg({ dumpUptime: 123456789, preDumpMode: 1 }));
    expect(inv).toEqual({ imgVersion: 2, dumpUptimeUs: 123456789, preDumpMode: 1, criuRunId: null });
  });

  it('counts present, in-parent and lazy pages of a pagemap', () => {
    const pm = parsePagemap('pagemap-1.img', pagemapImg(3, [
      { vaddr: BASE, nrPages: 10, flags: PE_PRESENT },
      { vaddr: BASE + 10 * 4096, nrPages: 5, flags: PE_PARENT },
      { vaddr: BASE + 20 * 4096, nrPages: 2, flags: PE_PRESENT | 2 /* PE_LAZY */ },
    ]), 1);
    expect(pm.pagesId).toBe(3);
    expect([pm.pagesPresent, pm.pagesInParent, pm.pagesLazy]).toEqual([12, 5, 2]);
    expect(pm.entries[1]).toMatchObject({ inParent: true, present: false });
  });

  it('reads dump and restore stats', () => {
    expect(parseDumpStats('s', statsDumpImg({ frozen: 99, written: 7, skipped: 3, scanned: 10 }))).toMatchObject({
      frozenTimeUs: 99, pagesWritten: 7, pagesSkippedParent: 3, pagesScanned: 10, memdumpTimeUs: 5,
    });
    const restore = encodeMessage('stats_entry', { restore: { pages_compared: 1, pages_skipped_cow: 2, forking_time: 3, restore_time: 4, pages_restored: 5 } });
    expect(parseRestoreStats('r', Buffer.concat([u32(IMG_SERVICE_MAGIC), u32(STATS_MAGIC), framed([restore])]))).toEqual({
      pagesCompared: 1, pagesSkippedCow: 2, forkingTimeUs: 3, restoreTimeUs: 4, pagesRestored: 5,
    });
  });

  it('reads a pstree', () => {
    const e = encodeMessage('pstree_entry', { pid: 10, ppid: 1, pgid: 10, sid: 10, threads: [10, 11] });
    expect(parsePstree('p', Buffer.concat([u32(IMG_COMMON_MAGIC), u32(PSTREE_MAGIC), framed([e])]))).toEqual([
      { pid: 10, ppid: 1, pgid: 10, sid: 10, threads: [10, 11] },
    ]);
  });

  describe('malformed files give a clean error', () => {
    const good = pagemapImg(1, [{ vaddr: BASE, nrPages: 1, flags: PE_PRESENT }]);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['an empty file', Buffer.alloc(0), /too short/],
      ['a wrong magic', Buffer.concat([u32(0xdeadbeef), good.subarray(4)]), /magic 0xdeadbeef/],
      ['a wrong type magic', Buffer.concat([u32(IMG_COMMON_MAGIC), u32(STATS_MAGIC), good.subarray(8)]), /type magic/],
      ['a truncated record', good.subarray(0, good.length - 3), /truncated or corrupt/],
      ['stray bytes', Buffer.concat([good, Buffer.from([1, 2])]), /stray bytes/],
      ['a huge length', Buffer.concat([good.subarray(0, 8), u32(0xfffffff0), Buffer.alloc(16)]), /claims 4294967280 bytes/],
      ['garbage protobuf', Buffer.concat([good.subarray(0, 8), framed([Buffer.from([0xff, 0xff, 0xff])])]), /not a valid pagemap_head/],
      ['no head', good.subarray(0, 8), /no pagemap_head/],
    ];
    it.each(cases)('%s', (_what, bytes, message) => {
      let caught: unknown;
      try {
        parsePagemap('pagemap-1.img', bytes, 1);
      } catch (err) {
        caught = err;
      }
      expect(isError(caught, ImagesInvalidError)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    });

    it('an inventory with two records', () => {
      const msg = encodeMessage('inventory_entry', { img_version: 2 });
      expect(() => parseInventory('inventory.img', Buffer.concat([u32(INVENTORY_MAGIC), framed([msg, msg])]))).toThrow(/2 inventory records/);
    });
  });
});

describe('readLayer', () => {
  it('summarises a layer and checks the pages file size', () => {
    const dir = writeLayer('dump', { preDump: false, pstree: true, entries: [{ vaddr: BASE, nrPages: 4, flags: PE_PRESENT }] });
    const layer = readLayer(dir);
    expect(layer).toMatchObject({ kind: 'dump', rootPid: 4242, pagesPresent: 4, pagesInParent: 0, pagesBytes: 4 * 4096, problems: [] });
    expect(layer.dumpStats?.frozenTimeUs).toBe(1234);
    fs.appendFileSync(path.join(dir, 'pages-1.img'), Buffer.alloc(10));
    expect(readLayer(dir).problems[0]).toMatch(/holds 16394 bytes, the pagemap expects 16384/);
  });

  it('refuses a dir that is not a CRIU images dir', () => {
    expect(() => readLayer(tmp)).toThrow(/no inventory.img/);
    expect(() => readLayer(path.join(tmp, 'missing'))).toThrow(/no such directory/);
  });
});

describe('readChain consistency', () => {
  const full = (n: number): Entry => ({ vaddr: BASE, nrPages: n, flags: PE_PRESENT });

  function tutorialChain(): { p1: string; p2: string; final: string } {
    const p1 = writeLayer('predump-1', { preDump: true, uptime: 1_000_000, entries: [full(100)] });
    const p2 = writeLayer('predump-2', {
      preDump: true, uptime: 2_000_000, parent: '../predump-1',
      entries: [{ vaddr: BASE, nrPages: 90, flags: PE_PARENT }, { vaddr: BASE + 90 * 4096, nrPages: 10, flags: PE_PRESENT }],
    });
    const final = writeLayer('final-dump', {
      preDump: false, pstree: true, uptime: 3_000_000, parent: '../predump-2',
      entries: [{ vaddr: BASE, nrPages: 95, flags: PE_PARENT }, { vaddr: BASE + 95 * 4096, nrPages: 5, flags: PE_PRESENT }],
    });
    return { p1, p2, final };
  }

  it('accepts the tutorial chain and lists it oldest first', () => {
    const { p1, p2, final } = tutorialChain();
    const chain = readChain(final);
    expect(chain.problems).toEqual([]);
    expect(chain.consistent).toBe(true);
    expect(chain.layers.map((l) => l.dir)).toEqual([p1, p2, final]);
    expect(chain.layers.map((l) => [l.pagesPresent, l.pagesInParent])).toEqual([[100, 0], [10, 90], [5, 95]]);
  });

  it('catches a final dump whose parent is not the latest pre-dump', () => {
    const { p1 } = tutorialChain();
    const wrong = writeLayer('final-wrong', {
      preDump: false, pstree: true, uptime: 3_500_000, parent: '../predump-1',
      entries: [{ vaddr: BASE, nrPages: 100, flags: PE_PARENT }],
    });
    const chain = readChain(wrong);
    expect(chain.consistent).toBe(false);
    expect(chain.problems.join('\n')).toMatch(new RegExp(`its parent ${p1} is not the latest pre-dump: .*predump-2`));
  });

  it('catches a missing parent, a dump as parent, and pages the parent does not hold', () => {
    writeLayer('orphan', { preDump: false, uptime: 5, parent: '../gone', entries: [full(1)] });
    expect(readChain(path.join(tmp, 'orphan')).problems.join()).toMatch(/parent link \.\.\/gone -> .* is unusable: no such directory/);

    writeLayer('a-dump', { preDump: false, uptime: 10, entries: [full(10)] });
    writeLayer('on-dump', { preDump: false, uptime: 20, parent: '../a-dump', entries: [{ vaddr: BASE, nrPages: 10, flags: PE_PARENT }] });
    expect(readChain(path.join(tmp, 'on-dump')).problems.join()).toMatch(/is a full dump, not a pre-dump/);

    writeLayer('small', { preDump: true, uptime: 10, entries: [full(10)] });
    writeLayer('big', { preDump: false, uptime: 20, parent: '../small', entries: [{ vaddr: BASE, nrPages: 20, flags: PE_PARENT }] });
    expect(readChain(path.join(tmp, 'big')).problems.join()).toMatch(/20 pages of pid 4242 marked in parent are not in/);
  });

  it('catches a parent of another pid and a link pointing forward in time', () => {
    writeLayer('other', { preDump: true, pid: 7, uptime: 10, entries: [full(1)] });
    writeLayer('mine', { preDump: false, uptime: 20, parent: '../other', entries: [full(1)] });
    expect(readChain(path.join(tmp, 'mine')).problems.join()).toMatch(/has no pagemap for pid 4242/);

    writeLayer('later', { preDump: true, uptime: 50, entries: [full(1)] });
    writeLayer('earlier', { preDump: false, uptime: 40, parent: '../later', entries: [full(1)] });
    expect(readChain(path.join(tmp, 'earlier')).problems.join()).toMatch(/was dumped before its parent/);
  });

  it('stops at a loop of parent links', () => {
    writeLayer('x', { preDump: true, uptime: 10, parent: '../y', entries: [full(1)] });
    writeLayer('y', { preDump: true, uptime: 20, parent: '../x', entries: [full(1)] });
    expect(readChain(path.join(tmp, 'y')).problems.join()).toMatch(/loop/);
  });
});

describe('images dirs', () => {
  const me: ProcessIdentity = { pid: 4242, startTime: 50, bootId: 'b', comm: 'wl' };

  it('creates a new images dir 0700 and refuses a non-empty one', () => {
    const p = prepareImagesDir(path.join(tmp, 'new', 'layer'));
    expect(p.created).toBe(true);
    expect(fs.statSync(p.dir).mode & 0o777).toBe(0o700);
    fs.writeFileSync(path.join(p.dir, 'inventory.img'), 'x');
    let caught: unknown;
    try {
      prepareImagesDir(p.dir);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).name).toBe('ImagesDirNotEmptyError');
    expect(fs.existsSync(path.join(p.dir, 'inventory.img'))).toBe(true);
  });

  it('accepts a dir holding only the log of a failed attempt, and discards partial images', () => {
    const dir = path.join(tmp, 'retry');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'dump.log'), 'old');
    fs.writeFileSync(path.join(dir, 'pages-1.img'), 'partial');
    discardPartialImages(dir);
    expect(fs.readdirSync(dir)).toEqual(['dump.log']);
    expect(prepareImagesDir(dir).created).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('accepts the latest pre-dump of the same process as parent, relative to the new dir', () => {
    const { p2 } = { p2: writeLayer('predump-2', { preDump: true, uptime: 2_000_000, entries: [{ vaddr: BASE, nrPages: 1, flags: PE_PRESENT }] }) };
    const r = checkPrevImagesDir(p2, path.join(tmp, 'final-dump'), me);
    expect(r.parentImg).toBe('../predump-2');
  });

  it('refuses a parent that is missing, a dump, another pid, older than the process, or not the latest', () => {
    const newDir = path.join(tmp, 'next');
    const expectInvalid = (prev: string, who: ProcessIdentity, message: RegExp): void => {
      let caught: unknown;
      try {
        checkPrevImagesDir(prev, newDir, who);
      } catch (err) {
        caught = err;
      }
      expect(isError(caught, ParentImagesInvalidError)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    };
    expectInvalid(path.join(tmp, 'nope'), me, /no such directory/);
    const d = writeLayer('d', { preDump: false, uptime: 1_000_000, entries: [{ vaddr: BASE, nrPages: 1, flags: PE_PRESENT }] });
    expectInvalid(d, me, /full dump, not a pre-dump/);
    const p = writeLayer('p', { preDump: true, uptime: 1_000_000, entries: [{ vaddr: BASE, nrPages: 1, flags: PE_PRESENT }] });
    expectInvalid(p, { ...me, pid: 99 }, /pre-dump of pid 4242, not of pid 99/);
    // started at tick 200 = 2 s after boot, after the pre-dump at 1 s: a recycled pid
    expectInvalid(p, { ...me, startTime: 200 }, /written before pid 4242 \(wl\) started/);
    writeLayer('p-newer', { preDump: true, uptime: 1_500_000, entries: [{ vaddr: BASE, nrPages: 1, flags: PE_PRESENT }] });
    expectInvalid(p, me, /not the latest pre-dump of pid 4242: .*p-newer/);
    expectInvalid(newDir, me, /same directory as --images-dir/);
  });
});
