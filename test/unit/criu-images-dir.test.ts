/**
 * The new layer's dir: created private, given back exactly as it was when the step stops before
 * CRIU (bad input changes nothing), and tightened after CRIU wrote it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareImagesDir, releaseImagesDir, tightenImagesDir } from '../../src/criu/images-dir';

let tmp: string;
const mode = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8);

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-imgdir-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('creates missing parents and the dir 0700 even under umask 000, and removes all of them on release', () => {
  const old = process.umask(0);
  try {
    fs.mkdirSync(path.join(tmp, 'kept'));
    const prepared = prepareImagesDir(path.join(tmp, 'kept', 'a', 'b', 'layer'));
    expect(prepared.created).toBe(true);
    expect([mode(path.join(tmp, 'kept', 'a')), mode(path.join(tmp, 'kept', 'a', 'b')), mode(prepared.dir)]).toEqual(['700', '700', '700']);
    releaseImagesDir(prepared);
    expect(fs.readdirSync(tmp)).toEqual(['kept']);
    expect(fs.readdirSync(path.join(tmp, 'kept'))).toEqual([]);
  } finally {
    process.umask(old);
  }
});

it('leaves a created parent in place when something else appeared in it meanwhile', () => {
  const prepared = prepareImagesDir(path.join(tmp, 'p', 'layer'));
  fs.writeFileSync(path.join(tmp, 'p', 'other'), '');
  releaseImagesDir(prepared);
  expect(fs.readdirSync(path.join(tmp, 'p'))).toEqual(['other']);
});

it('makes an existing empty dir 0700 and gives its mode back on release', () => {
  const dir = path.join(tmp, 'given');
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o755);
  const prepared = prepareImagesDir(dir);
  expect(prepared).toMatchObject({ created: false, previousMode: 0o755 });
  expect(mode(dir)).toBe('700');
  releaseImagesDir(prepared);
  expect(mode(dir)).toBe('755');
});

it('tightens the files CRIU wrote, and leaves the parent symlink alone', () => {
  const dir = path.join(tmp, 'layer');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'pages-1.img'), 'x', { mode: 0o644 });
  fs.chmodSync(path.join(dir, 'pages-1.img'), 0o644);
  fs.symlinkSync('../pre', path.join(dir, 'parent'));
  tightenImagesDir(dir);
  expect([mode(dir), mode(path.join(dir, 'pages-1.img'))]).toEqual(['700', '600']);
  expect(fs.readlinkSync(path.join(dir, 'parent'))).toBe('../pre');
});
