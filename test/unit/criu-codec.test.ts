import { decodeMessage, encodeMessage } from '../../src/criu/codec';
import { ReqType } from '../../src/criu/schema';

describe('CRIU protobuf codec', () => {
  it('encodes a VERSION request with CRIU field numbers', () => {
    // type (field 1, varint) = 10, keep_open (field 4, varint) = 1
    expect([...encodeMessage('criu_req', { type: ReqType.VERSION, keep_open: true })]).toEqual([0x08, 0x0a, 0x20, 0x01]);
  });

  it('encodes a FEATURE_CHECK request asking for every feature as true', () => {
    const bytes = encodeMessage('criu_req', { type: ReqType.FEATURE_CHECK, features: { mem_track: true, lazy_pages: true, pidfd_store: true } });
    // field 5 (length-delimited) holds fields 1, 2, 3 = true
    expect([...bytes]).toEqual([0x08, 0x09, 0x2a, 0x06, 0x08, 0x01, 0x10, 0x01, 0x18, 0x01]);
  });

  it('always writes the required images_dir_fd and the dump options', () => {
    const bytes = encodeMessage('criu_req', {
      type: ReqType.SINGLE_PRE_DUMP,
      opts: { images_dir_fd: 7, pid: 1234, track_mem: true, parent_img: '../predump-1', log_file: 'pre-dump.log' },
    });
    const back = decodeMessage<{ type: number; opts: Record<string, unknown> }>('criu_req', bytes);
    expect(back.type).toBe(13);
    expect(back.opts).toMatchObject({ images_dir_fd: 7, pid: 1234, track_mem: true, parent_img: '../predump-1', log_file: 'pre-dump.log' });
    // images_dir_fd is field 1 (tag 0x08) of the opts message, tag 0x12
    const optsAt = bytes.indexOf(0x12);
    expect(bytes[optsAt + 2]).toBe(0x08);
    expect(bytes[optsAt + 3]).toBe(7);
  });

  it('decodes a response CRIU would send: restore pid, errno, version', () => {
    const bytes = encodeMessage('criu_resp', {
      type: ReqType.RESTORE,
      success: true,
      restore: { pid: 4321 },
      cr_errno: 17,
      version: { major_number: 4, minor_number: 1, sublevel: 1 },
    });
    const resp = decodeMessage<{ restore: { pid: number }; cr_errno: number; version: { sublevel: number } }>('criu_resp', bytes);
    expect(resp.restore.pid).toBe(4321);
    expect(resp.cr_errno).toBe(17);
    expect(resp.version.sublevel).toBe(1);
  });

  it('decodes 64-bit counters as numbers', () => {
    const bytes = encodeMessage('pagemap_entry', { vaddr: 0x7f0000000000, nr_pages: 3, flags: 4 });
    expect(decodeMessage<{ vaddr: number }>('pagemap_entry', bytes).vaddr).toBe(0x7f0000000000);
  });

  it('rejects a response missing a required field', () => {
    const bytes = encodeMessage('criu_req', { type: 1 }); // no `success`
    expect(() => decodeMessage('criu_resp', bytes)).toThrow(/success/);
  });

  it('rejects garbage without hanging', () => {
    expect(() => decodeMessage('criu_resp', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow();
  });

  it('refuses to encode a value of the wrong type', () => {
    expect(() => encodeMessage('criu_req', { type: 'dump' })).toThrow(/invalid criu_req/);
  });
});

describe('proto2 presence', () => {
  it('writes an explicit false (a refused notification must reach CRIU)', () => {
    expect([...encodeMessage('criu_req', { type: ReqType.NOTIFY, notify_success: false })]).toEqual([0x08, 0x06, 0x18, 0x00]);
  });
});
