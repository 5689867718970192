/** Transfer budgets: the settings that bound a store's concurrency, part size and rate, and the pacing that holds the rate. */
import { ConfigError, loadConfig } from '../../src/config/config';
import { isError, parseRate, TransferAborted } from '../../src/core';
import { BandwidthLimit } from '../../src/storage/bandwidth';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ HOME: '/h', ...env });
  } catch (err) {
    if (isError(err, ConfigError)) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseRate', () => {
  test.each([
    ['50MiB/s', 50 * 1024 * 1024],
    ['50 MiB/s', 50 * 1024 * 1024],
    ['800KiB/s', 800 * 1024],
    ['1.5m', 1.5 * 1024 * 1024],
    ['10MB/s', 10_000_000],
    ['1g', 1024 ** 3],
    ['123456', 123456],
  ])('%s is %d bytes per second', (text, bytes) => expect(parseRate(text)).toBe(bytes));

  test.each(['', 'fast', '-5MiB/s', '5 parsecs', '0', 'MiB/s'])('refuses %j', (text) => expect(parseRate(text)).toBeNull());
});

describe('transfer settings', () => {
  it('default to the store defaults, and take valid values', () => {
    expect(loadConfig({ HOME: '/h' }).transfer).toEqual({});
    expect(loadConfig({ HOME: '/h', FERRY_TRANSFER_CONCURRENCY: '2', FERRY_TRANSFER_PART_MIB: '8', FERRY_TRANSFER_LIMIT: '20MiB/s' }).transfer).toEqual({
      concurrency: 2,
      partSize: 8 * 1024 * 1024,
      bytesPerSecond: 20 * 1024 * 1024,
    });
  });

  it('refuse what the store cannot use, naming the setting', () => {
    expect(configError({ FERRY_TRANSFER_CONCURRENCY: '0' }).setting).toBe('FERRY_TRANSFER_CONCURRENCY');
    expect(configError({ FERRY_TRANSFER_PART_MIB: '4' }).message).toMatch(/FERRY_TRANSFER_PART_MIB must be a part size in MiB from 5 to 5120/);
    expect(configError({ FERRY_TRANSFER_LIMIT: 'quick' }).message).toMatch(/FERRY_TRANSFER_LIMIT must be a rate of at least 64 KiB\/s/);
    expect(configError({ FERRY_TRANSFER_LIMIT: '1KiB/s' }).setting).toBe('FERRY_TRANSFER_LIMIT');
  });
});

describe('BandwidthLimit', () => {
  it('lets the first bytes go at once and makes later ones wait for their share of the rate', async () => {
    const limit = new BandwidthLimit(100_000); // 100 kB/s
    const t0 = performance.now();
    await limit.take(10_000); // 100 ms of the rate, reserved from now
    expect(performance.now() - t0).toBeLessThan(50);
    await limit.take(10_000); // must wait until the first 10 kB have had their 100 ms
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
  });

  it('stops waiting when the transfer is aborted', async () => {
    const limit = new BandwidthLimit(1000);
    await limit.take(10_000); // reserves 10 s
    const controller = new AbortController();
    const waiting = limit.take(1, controller.signal, 'upload of x');
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(TransferAborted);
  });
});
