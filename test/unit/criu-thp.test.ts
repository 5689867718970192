import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSmapsRollup, readThpMode, thpWarning } from '../../src/criu/thp';

/** A real smaps_rollup's shape (Linux 6.x), with the two fields that matter set per test. */
function rollup(anonymous: number, anonHuge: number): string {
  return [
    '55d0c0a6b000-7ffd3d5f2000 ---p 00000000 00:00 0                          [rollup]',
    'Rss:              135220 kB',
    'Pss:              134500 kB',
    'Pss_Dirty:        132000 kB',
    `Anonymous:        ${anonymous} kB`,
    'KSM:                   0 kB',
    'LazyFree:              0 kB',
    `AnonHugePages:    ${anonHuge} kB`,
    'ShmemPmdMapped:        0 kB',
    'FilePmdMapped:         0 kB',
    'Swap:                  0 kB',
    '',
  ].join('\n');
}

describe('transparent huge pages warning', () => {
  it('parses Anonymous and AnonHugePages from smaps_rollup', () => {
    expect(parseSmapsRollup(rollup(132000, 129024))).toEqual({ anonymousKb: 132000, anonHugePagesKb: 129024 });
    expect(parseSmapsRollup('Rss: 1 kB\n')).toBeNull();
    expect(parseSmapsRollup('Anonymous: x kB\nAnonHugePages: 0 kB\n')).toBeNull();
    // The real file of this process parses (Anonymous > 0 for any Node process).
    const own = parseSmapsRollup(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
    expect(own?.anonymousKb).toBeGreaterThan(0);
  });

  it('warns above half of anonymous memory in huge pages, and says what to do', () => {
    const w = thpWarning(77, { anonymousKb: 132000, anonHugePagesKb: 129024 }, 'always');
    expect(w).toMatch(/transparent huge pages back 98% of pid 77's anonymous memory \(126.0 MiB of 128.9 MiB; THP mode "always"\)/);
    expect(w).toMatch(/madvise > \/sys\/kernel\/mm\/transparent_hugepage\/enabled/);
    expect(w).toMatch(/MADV_NOHUGEPAGE/);
    expect(thpWarning(77, { anonymousKb: 132000, anonHugePagesKb: 66000 }, 'always')).toBeNull();
    expect(thpWarning(77, { anonymousKb: 0, anonHugePagesKb: 0 }, null)).toBeNull();
  });

  it('reads the active THP mode', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-thp-'));
    try {
      fs.writeFileSync(path.join(tmp, 'enabled'), 'always [madvise] never\n');
      expect(readThpMode(path.join(tmp, 'enabled'))).toBe('madvise');
      expect(readThpMode(path.join(tmp, 'missing'))).toBeNull();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
