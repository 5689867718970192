/** With --json, stdout holds exactly one JSON document: the result, or an error, never both. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ferryInProcess } from '../helpers/ferry-cli';
import { makeChain } from '../helpers/storage-fixtures';

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-json-'))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('a command that prints its finding and then fails (inspect of a broken chain) adds no error document', async () => {
  const first = makeChain(1, [8192], 1, fs.mkdtempSync(path.join(root, 'a-'))).dirs[0]!;
  const second = makeChain(1, [8192], 2, fs.mkdtempSync(path.join(root, 'b-'))).dirs[0]!;
  // A final dump whose parent is another final dump: CRIU would restore garbage from it.
  fs.symlinkSync(first, path.join(second, 'parent'));
  const run = await ferryInProcess('inspect', second, '--json');
  expect(run.code).toBe(1);
  const doc = JSON.parse(run.stdout) as { consistent: boolean; problems: string[] };
  expect(doc.consistent).toBe(false);
  expect(doc.problems.length).toBeGreaterThan(0);
});

it('a command that fails before printing anything gives the error document', async () => {
  const run = await ferryInProcess('inspect', path.join(root, 'missing'), '--json');
  expect(run.code).toBe(1);
  expect(JSON.parse(run.stdout)).toEqual({ error: { kind: 'images-invalid', message: expect.stringMatching(/^CRIU images dir .*missing cannot be read: no such directory/), exitCode: 1 } });
});
