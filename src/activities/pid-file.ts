/**
 * Reading a warm schedule's pid file on the host. The worker runs as root and the path comes from
 * whoever created the schedule, so the read is as narrow as a pid file allows: the file itself
 * (no symbolic link as its last component), a regular file (a FIFO would block the activity,
 * /dev/zero would fill the worker's memory), a few bytes, opened without blocking. Its content
 * never goes into a message: the path might name a key file, and messages reach workflow history.
 */
import { constants, promises as fsp } from 'node:fs';
import { PidFileUnreadable } from '../core';

/** Longer than any pid with its newline; a pid file holds nothing else. */
export const MAX_PID_FILE_BYTES = 32;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

function openProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'it does not exist';
    case 'ELOOP':
      return 'it is a symbolic link (give the file itself)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return err.code ?? 'it cannot be opened';
  }
}

/** The pid a pid file names; PidFileUnreadable (never retried) for anything else. */
export async function readPidFile(file: string, host: string): Promise<number> {
  const where = `pid file ${file} on host ${host}`;
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, OPEN_FLAGS);
  } catch (err) {
    throw new PidFileUnreadable(`cannot read ${where}: ${openProblem(err as NodeJS.ErrnoException)}; check the schedule's --pid-file`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PidFileUnreadable(`${where} is not a regular file; a pid file holds one number`);
    if (st.size > MAX_PID_FILE_BYTES) throw new PidFileUnreadable(`${where} holds ${st.size} bytes; a pid file holds one number (at most ${MAX_PID_FILE_BYTES} bytes)`);
    const buf = Buffer.alloc(MAX_PID_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('latin1').trim();
    const pid = Number(text);
    if (bytesRead > MAX_PID_FILE_BYTES || !/^\d{1,10}$/.test(text) || !Number.isSafeInteger(pid) || pid <= 1) {
      throw new PidFileUnreadable(`${where} does not hold a pid (one decimal number above 1); its content is not shown, the file may hold anything`);
    }
    return pid;
  } finally {
    await handle.close();
  }
}
