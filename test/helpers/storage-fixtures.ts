/**
 * Synthetic CRIU images dirs for layer-store tests: real image headers for the files the store
 * reads (pstree.img, stats-dump.img), seeded pseudo-random bytes for pages, parent symlinks
 * between layers as CRIU makes them.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeMessage } from '../../src/criu/codec';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, INVENTORY_MAGIC, PAGEMAP_MAGIC, PE_PRESENT, PSTREE_MAGIC, STATS_MAGIC } from '../../src/criu/schema';
import { rejection } from './rejection';

function record(messageName: string, value: Record<string, unknown>): Buffer {
  const msg = encodeMessage(messageName, value);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

export function image(magic: number, typeMagic: number, messageName: string, value: Record<string, unknown>): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(magic, 0);
  head.writeUInt32LE(typeMagic, 4);
  return Buffer.concat([head, record(messageName, value)]);
}

/** inventory.img: its own magic only; pre_dump_mode marks a pre-dump, as CRIU writes it. */
export function inventoryImage(preDump: boolean): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(INVENTORY_MAGIC, 0);
  return Buffer.concat([head, record('inventory_entry', { img_version: 2, ...(preDump ? { pre_dump_mode: 1 } : {}) })]);
}

export function pagemapImage(pages: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
  head.writeUInt32LE(PAGEMAP_MAGIC, 4);
  return Buffer.concat([head, record('pagemap_head', { pages_id: 1 }), record('pagemap_entry', { vaddr: 0x400000, nr_pages: pages, flags: PE_PRESENT })]);
}

/** Deterministic bytes that do not compress or repeat (so dedup cannot hide a bug). */
export function pseudoRandom(size: number, seed: number): Buffer {
  const key = createHash('sha256').update(`seed:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

export function statsImage(pagesWritten: number, pagesSkippedParent: number): Buffer {
  return image(IMG_SERVICE_MAGIC, STATS_MAGIC, 'stats_entry', {
    dump: {
      freezing_time: 10,
      frozen_time: 1234,
      memdump_time: 567,
      memwrite_time: 89,
      pages_scanned: pagesWritten + pagesSkippedParent,
      pages_skipped_parent: pagesSkippedParent,
      pages_written: pagesWritten,
      pages_lazy: 0,
    },
  });
}

export interface SyntheticChain {
  root: string;
  dirs: string[];
}

/** layers-1 pre-dumps and one final dump (pass a final layer without pstree.img for a warm chain) under a fresh temp dir, each chained to the previous. */
export function makeChain(layers: number, pagesBytes: number[], seed = 1, root = mkdtempSync(path.join(os.tmpdir(), 'ferry-chain-'))): SyntheticChain {
  const dirs: string[] = [];
  for (let i = 0; i < layers; i++) {
    const dir = path.join(root, i === layers - 1 ? 'dump' : `pre-${i}`);
    mkdirSync(dir);
    if (i > 0) symlinkSync(`../${path.basename(dirs[i - 1])}`, path.join(dir, 'parent'));
    const pagesBytes_ = pagesBytes[i] ?? 4096;
    writeFileSync(path.join(dir, 'pages-1.img'), pseudoRandom(pagesBytes_, seed * 100 + i));
    writeFileSync(path.join(dir, 'pagemap-4242.img'), pagemapImage(Math.floor(pagesBytes_ / 4096) + seed));
    writeFileSync(path.join(dir, 'inventory.img'), inventoryImage(i < layers - 1));
    // CRIU names its stats file without the .img suffix.
    writeFileSync(path.join(dir, 'stats-dump'), statsImage(100 + i, 50 * i));
    if (i === layers - 1) {
      writeFileSync(path.join(dir, 'pstree.img'), image(IMG_COMMON_MAGIC, PSTREE_MAGIC, 'pstree_entry', { pid: 4242, ppid: 1, pgid: 4242, sid: 4242 }));
      writeFileSync(path.join(dir, 'core-4242.img'), pseudoRandom(700, seed));
    }
    dirs.push(dir);
  }
  return { root, dirs };
}

/** name -> sha256 of every file in a dir, plus where its parent link points. */
export function snapshotDir(dir: string): { files: Record<string, string>; parent: string | null } {
  const files: Record<string, string> = {};
  let parent: string | null = null;
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (name === 'parent') {
      parent = lstatSync(p).isSymbolicLink() ? readlinkSync(p) : 'NOT A SYMLINK';
      continue;
    }
    files[name] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return { files, parent };
}

/** Asserts an error passes a guard, showing the actual error when it does not. */
export async function expectFailure(p: Promise<unknown>, guard: (e: unknown) => boolean): Promise<Error> {
  const err = await rejection(p);
  if (!guard(err)) {
    const e = err as Error;
    throw new Error(`unexpected failure ${e?.name}: ${e?.message}`);
  }
  return err as Error;
}
