import { HostRateMemory, RATE_SAMPLE_MAX_AGE_MS } from '../../src/activities/host-rates';

const MIB = 1024 * 1024;

describe('the rates a worker remembers between checkpoints', () => {
  test('start unknown, and a sample that moved nothing or took no time is not one', () => {
    const m = new HostRateMemory();
    m.noteDump(0, 100, 0);
    m.noteUpload(4 * MIB, 0, 0);
    expect(m.current()).toEqual({ dumpBytesPerMs: null, uploadBytesPerMs: null });
  });

  test('a small sample, mostly fixed cost, does not replace a bigger recent one', () => {
    const m = new HostRateMemory();
    m.noteDump(128 * MIB, 1000, 0); // 128 MiB/s
    m.noteDump(5 * MIB, 1000, 10); // 5 MiB/s: a catch-up of 5 MiB behind a 1 s CRIU start
    expect(m.current().dumpBytesPerMs).toBeCloseTo((128 * MIB) / 1000);
    m.noteDump(256 * MIB, 4000, 20); // bigger: replaces it whatever its rate
    expect(m.current().dumpBytesPerMs).toBeCloseTo((64 * MIB) / 1000);
  });

  test('a stale sample gives way to any newer one', () => {
    const m = new HostRateMemory();
    m.noteUpload(512 * MIB, 1000, 0);
    m.noteUpload(8 * MIB, 1000, RATE_SAMPLE_MAX_AGE_MS + 1);
    expect(m.current().uploadBytesPerMs).toBeCloseTo((8 * MIB) / 1000);
  });

  test('dump and upload samples are kept apart', () => {
    const m = new HostRateMemory();
    m.noteDump(64 * MIB, 500, 0);
    expect(m.current()).toEqual({ dumpBytesPerMs: (64 * MIB) / 500, uploadBytesPerMs: null });
  });
});
