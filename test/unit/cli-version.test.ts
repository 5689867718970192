import fs from 'node:fs';
import path from 'node:path';
import { ferryInProcess } from '../helpers/ferry-cli';

test('ferry --version (and -V) prints the package version and exits 0', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await ferryInProcess(flag);
    expect(r).toEqual({ code: 0, stdout: `ferry ${version}\n`, stderr: '' });
  }
});
