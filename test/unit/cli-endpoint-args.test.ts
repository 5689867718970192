/** `--page-server ADDR:PORT` and `ferry page-server --address/--port` are checked before CRIU sees them. */
import { formatEndpoint, parseEndpoint, parseListenAddress, parsePort } from '../../src/cli/endpoint-args';
import { UsageError } from '../../src/cli/usage-error';
import { isError } from '../../src/core';

describe('parseEndpoint (--page-server ADDR:PORT)', () => {
  test.each([
    ['10.0.0.2:27000', '10.0.0.2', 27000],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['[::1]:65535', '::1', 65535],
    ['[fd00::2]:27', 'fd00::2', 27],
    ['[::ffff:10.0.0.2]:27', '::ffff:10.0.0.2', 27],
    ['dest.example:27000', 'dest.example', 27000],
    ['dest:27000', 'dest', 27000],
    ['host-1.lab.example.:80', 'host-1.lab.example.', 80],
    ['  10.0.0.2:27000 ', '10.0.0.2', 27000],
  ])('accepts %j', (raw, address, port) => {
    expect(parseEndpoint('--page-server', raw)).toEqual({ address, port });
  });

  test.each([
    ['10.0.0.2', /has no port/],
    ['', /has no port/],
    [':27000', /has no address/],
    ['10.0.0.2:', /port must be a TCP port from 1 to 65535/],
    ['10.0.0.2:0', /port must be a TCP port from 1 to 65535/],
    ['10.0.0.2:65536', /port must be a TCP port from 1 to 65535/],
    ['10.0.0.2:http', /port must be a TCP port/],
    ['10.0.0.2:-1', /port must be a TCP port/],
    ['10.0.0.2:27000000', /port must be a TCP port/],
    ['::1:27000', /an IPv6 address needs brackets \(write it \[::1\]:27000\)/],
    ['fd00::2', /an IPv6 address needs brackets/],
    ['[::1]', /is not ADDR:PORT/],
    ['[::1]27000', /is not ADDR:PORT/],
    ['[10.0.0.2]:27000', /in brackets is not an IPv6 address/],
    ['[not-v6]:27000', /in brackets is not an IPv6 address/],
    ['999.1.1.1:27000', /"999.1.1.1" is not a valid IPv4 address/],
    ['10.0.0:27000', /is not a valid IPv4 address/],
    ['dest_host:27000', /is not a valid host name/],
    ['-dest:27000', /is not a valid host name/],
    ['dest..example:27000', /is not a valid host name/],
    ['de st:27000', /is not a valid host name/],
    [`${'a'.repeat(64)}.example:27000`, /is not a valid host name/],
  ])('refuses %j as a usage error', (raw, message) => {
    let err: unknown;
    try {
      parseEndpoint('--page-server', raw);
    } catch (e) {
      err = e;
    }
    expect(isError(err, UsageError)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/^--page-server/);
  });

  test('a huge value is quoted by its start and length, not echoed whole', () => {
    const huge = 'a'.repeat(100000) + ':27000';
    expect(() => parseEndpoint('--page-server', huge)).toThrow(/\.\.\. \(100000 characters\)/);
  });
});

describe('parsePort and parseListenAddress (ferry page-server)', () => {
  test('port 0 means any free port only where a server listens', () => {
    expect(parsePort('--port', '0', true)).toBe(0);
    expect(parsePort('--port', '27000', true)).toBe(27000);
    expect(() => parsePort('--port', '0')).toThrow(/from 1 to 65535/);
    expect(() => parsePort('--port', '1e3', true)).toThrow(/--port must be a TCP port from 0 to 65535 \(0: any free port\), got "1e3"/);
  });

  test.each([
    ['10.0.0.2', '10.0.0.2'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['[fd00::2]', 'fd00::2'],
  ])('listens on the IP literal %j', (raw, address) => {
    expect(parseListenAddress('--address', raw)).toBe(address);
  });

  test.each(['dest.example', 'localhost', '10.0.0.2:27000', '', '[10.0.0.2]'])('refuses %j: CRIU does not resolve names where it listens', (raw) => {
    expect(() => parseListenAddress('--address', raw)).toThrow(/--address must be an IPv4 or IPv6 address of this host/);
  });

  test('formatEndpoint writes IPv6 back in brackets', () => {
    expect(formatEndpoint({ address: 'fd00::2', port: 27 })).toBe('[fd00::2]:27');
    expect(formatEndpoint({ address: '10.0.0.2', port: 27 })).toBe('10.0.0.2:27');
  });
});
