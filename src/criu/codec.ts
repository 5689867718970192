/**
 * Encoding and decoding of CRIU's protobuf messages (schema in schema.ts). The protobufjs root is
 * built once, on first use, so commands that never touch CRIU do not pay for it.
 */
import type { Root, Type } from 'protobufjs/light';
import { CRIU_SCHEMA } from './schema';

let root: Root | undefined;
const types = new Map<string, Type>();

function lookup(name: string): Type {
  let type = types.get(name);
  if (!type) {
    if (!root) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const protobuf = require('protobufjs/light') as typeof import('protobufjs/light');
      root = protobuf.Root.fromJSON(CRIU_SCHEMA);
    }
    type = root.lookupType(name);
    types.set(name, type);
  }
  return type;
}

export function encodeMessage(name: string, value: Record<string, unknown>): Buffer {
  const type = lookup(name);
  const problem = type.verify(value);
  if (problem) throw new TypeError(`invalid ${name}: ${problem}`);
  const bytes = type.encode(type.fromObject(value)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes one message into a plain object: 64-bit integers as numbers (page counts and
 * microsecond clocks stay far below 2^53), absent optional fields absent. Throws on malformed
 * bytes or a missing required field.
 */
export function decodeMessage<T = Record<string, unknown>>(name: string, bytes: Uint8Array): T {
  const type = lookup(name);
  const message = type.decode(bytes);
  return type.toObject(message, { longs: Number, enums: Number, defaults: false, arrays: true }) as T;
}
