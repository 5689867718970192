/**
 * Encoding and decoding of CRIU's protobuf messages (proto2; schema in schema.ts) with
 * protobufjs/minimal's Reader and Writer. A small schema walker instead of protobufjs's reflection
 * and generated code: it loads in a fraction of the time, which matters for a CLI started once per
 * step (see schema.ts), and proto2 presence is exact: a field is written iff the value has it, so
 * an explicit `false` (a refused notification) always reaches CRIU.
 */
import type { Reader as ReaderType, Writer as WriterType } from 'protobufjs/minimal';
import { CRIU_MESSAGES, type FieldSpec } from './schema';

type Minimal = typeof import('protobufjs/minimal');
let minimal: Minimal | undefined;
function pb(): Minimal {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!minimal) minimal = require('protobufjs/minimal') as Minimal;
  return minimal;
}

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const SCALARS = new Set(['int32', 'uint32', 'uint64', 'bool', 'string']);

interface CompiledMessage {
  name: string;
  /** Fields in field-number order, as protoc writes them. */
  fields: Array<FieldSpec & { name: string }>;
  byId: Map<number, FieldSpec & { name: string }>;
}

const compiled = new Map<string, CompiledMessage>();

function message(name: string): CompiledMessage {
  let m = compiled.get(name);
  if (!m) {
    const spec = CRIU_MESSAGES[name];
    if (!spec) throw new TypeError(`unknown CRIU message ${name}`);
    const fields = Object.entries(spec.fields)
      .map(([fieldName, f]) => ({ ...f, name: fieldName }))
      .sort((a, b) => a.id - b.id);
    m = { name, fields, byId: new Map(fields.map((f) => [f.id, f])) };
    compiled.set(name, m);
  }
  return m;
}

function checkValue(msg: string, field: string, type: string, v: unknown): void {
  const bad = (what: string): never => {
    throw new TypeError(`invalid ${msg}: ${field} must be ${what}, got ${JSON.stringify(v)}`);
  };
  switch (type) {
    case 'int32':
      if (!Number.isInteger(v) || (v as number) < -0x80000000 || (v as number) > 0x7fffffff) bad('an int32');
      break;
    case 'uint32':
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) bad('a uint32');
      break;
    case 'uint64':
      if (!Number.isSafeInteger(v) || (v as number) < 0) bad('a non-negative safe integer');
      break;
    case 'bool':
      if (typeof v !== 'boolean') bad('a boolean');
      break;
    case 'string':
      if (typeof v !== 'string') bad('a string');
      break;
    default:
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`a ${type} object`);
  }
}

function writeValue(w: WriterType, f: FieldSpec, v: unknown): void {
  switch (f.type) {
    case 'int32':
      w.uint32((f.id << 3) | VARINT).int32(v as number);
      return;
    case 'uint32':
      w.uint32((f.id << 3) | VARINT).uint32(v as number);
      return;
    case 'uint64':
      w.uint32((f.id << 3) | VARINT).uint64(v as number);
      return;
    case 'bool':
      w.uint32((f.id << 3) | VARINT).bool(v as boolean);
      return;
    case 'string':
      w.uint32((f.id << 3) | LENGTH_DELIMITED).string(v as string);
      return;
    default:
      w.uint32((f.id << 3) | LENGTH_DELIMITED).fork();
      writeMessage(w, f.type, v as Record<string, unknown>);
      w.ldelim();
  }
}

function writeMessage(w: WriterType, name: string, value: Record<string, unknown>): void {
  const m = message(name);
  for (const f of m.fields) {
    const v = value[f.name];
    if (v === undefined || v === null) {
      if (f.rule === 'required') throw new TypeError(`invalid ${name}: ${f.name} is required`);
      continue;
    }
    if (f.rule === 'repeated') {
      if (!Array.isArray(v)) throw new TypeError(`invalid ${name}: ${f.name} must be an array`);
      for (const item of v) {
        checkValue(name, f.name, f.type, item);
        writeValue(w, f, item);
      }
    } else {
      checkValue(name, f.name, f.type, v);
      writeValue(w, f, v);
    }
  }
  for (const key of Object.keys(value)) {
    if (!(key in CRIU_MESSAGES[name]!.fields) && value[key] !== undefined) {
      throw new TypeError(`invalid ${name}: no field ${key}`);
    }
  }
}

export function encodeMessage(name: string, value: Record<string, unknown>): Buffer {
  const w = pb().Writer.create();
  writeMessage(w, name, value);
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readScalar(r: ReaderType, type: string): unknown {
  switch (type) {
    case 'int32':
      return r.int32();
    case 'uint32':
      return r.uint32();
    case 'uint64': {
      const v = r.uint64() as unknown as number | { toNumber(): number };
      return typeof v === 'number' ? v : v.toNumber();
    }
    case 'bool':
      return r.bool();
    default:
      return r.string();
  }
}

function readMessage(r: ReaderType, name: string, end: number): Record<string, unknown> {
  const m = message(name);
  const out: Record<string, unknown> = {};
  for (const f of m.fields) if (f.rule === 'repeated') out[f.name] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    const f = m.byId.get(id);
    if (id === 0) throw new Error(`invalid ${name}: field number 0`);
    if (!f) {
      r.skipType(wireType);
      continue;
    }
    const isMessage = !SCALARS.has(f.type);
    const expected = isMessage || f.type === 'string' ? LENGTH_DELIMITED : VARINT;
    if (f.rule === 'repeated' && !isMessage && f.type !== 'string' && wireType === LENGTH_DELIMITED) {
      // packed repeated scalars
      const packedEnd = r.uint32() + r.pos;
      if (packedEnd > end) throw new RangeError(`invalid ${name}: ${f.name} overruns its message`);
      while (r.pos < packedEnd) (out[f.name] as unknown[]).push(readScalar(r, f.type));
      continue;
    }
    if (wireType !== expected) throw new Error(`invalid ${name}: ${f.name} has wire type ${wireType}, expected ${expected}`);
    let value: unknown;
    if (isMessage) {
      const len = r.uint32();
      const subEnd = r.pos + len;
      if (subEnd > end) throw new RangeError(`invalid ${name}: ${f.name} overruns its message`);
      value = readMessage(r, f.type, subEnd);
    } else {
      value = readScalar(r, f.type);
    }
    if (f.rule === 'repeated') (out[f.name] as unknown[]).push(value);
    else out[f.name] = value;
  }
  if (r.pos !== end) throw new RangeError(`invalid ${name}: its last field overruns the message`);
  for (const f of m.fields) {
    if (f.rule === 'required' && out[f.name] === undefined) throw new Error(`invalid ${name}: missing required field ${f.name}`);
  }
  return out;
}

/**
 * Decodes one message into a plain object: 64-bit integers as numbers (page counts and
 * microsecond clocks stay far below 2^53), absent optional fields absent, repeated fields as
 * arrays. Throws on malformed bytes or a missing required field; never reads past `bytes`.
 */
export function decodeMessage<T = Record<string, unknown>>(name: string, bytes: Uint8Array): T {
  const r = pb().Reader.create(bytes);
  return readMessage(r, name, bytes.length) as T;
}
