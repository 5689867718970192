/**
 * Who a restore would bring back: for every process of a final dump's tree, the uids its threads
 * run as and the executable it runs, read from the images before CRIU sees them. CRIU restores
 * credentials exactly as recorded, so whoever chose the images chooses what runs, as whom, when a
 * root worker restores them; the host policy (src/policy) decides from these facts first.
 *
 * Sources (CRIU 4.1 images): pstree.img lists the processes and their threads; core-<tid>.img
 * holds each thread's credentials (thread_core.creds) and the task's name and state;
 * mm-<pid>.img names the executable by file id (exe_file_id), and files.img maps that id to the
 * path of a regular file.
 */
import path from 'node:path';
import { ImagesInvalidError } from '../core';
import { decodeImage, readImageFile } from './image-file';
import { parsePstree } from './images';
import { CORE_MAGIC, FILES_MAGIC, MM_MAGIC } from './schema';

export interface ImagedProcess {
  pid: number;
  comm: string;
  /** Every uid any of its threads would run as: real, effective, saved, filesystem (deduplicated; empty for a zombie). */
  uids: number[];
  /** The executable's path as recorded, or null for a zombie (it has no memory, nothing runs). */
  exe: string | null;
}

/** task_core_entry.task_state of a zombie (compel's TASK_DEAD): CRIU writes no mm image for it. */
const TASK_DEAD = 2;
/** fd_types.REG in fdinfo.proto. */
const FD_TYPE_REG = 1;

interface CoreEntry {
  tc?: { task_state?: number; comm?: string };
  thread_core?: { creds?: { uid?: number; euid?: number; suid?: number; fsuid?: number } };
}

function readCore(dir: string, tid: number): CoreEntry {
  const file = path.join(dir, `core-${tid}.img`);
  const [core] = decodeImage<CoreEntry>(file, readImageFile(file), { magic: CORE_MAGIC }, 'core_entry');
  if (!core) throw new ImagesInvalidError(file, 'holds no core entry');
  return core;
}

function threadUids(dir: string, tid: number, core: CoreEntry): number[] {
  const creds = core.thread_core?.creds;
  const uids = [creds?.uid, creds?.euid, creds?.suid, creds?.fsuid];
  // Without credentials there is nothing to judge the thread by: refuse rather than guess root.
  if (!uids.every((u): u is number => typeof u === 'number')) {
    throw new ImagesInvalidError(path.join(dir, `core-${tid}.img`), 'records no complete credentials (uid, euid, suid, fsuid) for the thread');
  }
  return uids;
}

/** files.img: file id -> path, for regular files only (an executable is always one). */
function readRegularFiles(dir: string): Map<number, string> {
  const file = path.join(dir, 'files.img');
  const entries = decodeImage<{ type?: number; id?: number; reg?: { name?: string } }>(file, readImageFile(file), { magic: FILES_MAGIC }, 'file_entry');
  const byId = new Map<number, string>();
  for (const e of entries) {
    if (e.type === FD_TYPE_REG && typeof e.id === 'number' && typeof e.reg?.name === 'string') byId.set(e.id, e.reg.name);
  }
  return byId;
}

function readExe(dir: string, pid: number, files: () => Map<number, string>): string {
  const file = path.join(dir, `mm-${pid}.img`);
  const [mm] = decodeImage<{ exe_file_id?: number }>(file, readImageFile(file), { magic: MM_MAGIC }, 'mm_entry');
  if (mm?.exe_file_id === undefined) throw new ImagesInvalidError(file, 'names no executable (exe_file_id)');
  const exe = files().get(mm.exe_file_id);
  if (exe === undefined) throw new ImagesInvalidError(path.join(dir, 'files.img'), `has no regular file with id ${mm.exe_file_id}, the executable of pid ${pid}`);
  // CRIU records paths relative to the task's root mount, with or without the leading slash.
  return exe.startsWith('/') ? exe : `/${exe}`;
}

/**
 * The processes a restore of the final dump in `dir` would create, in pstree order. Throws
 * ImagesInvalidError when a fact the policy needs is missing or unreadable.
 */
export function readImagedProcesses(dir: string): ImagedProcess[] {
  const pstreeFile = path.join(dir, 'pstree.img');
  const tree = parsePstree(pstreeFile, readImageFile(pstreeFile));
  if (tree.length === 0) throw new ImagesInvalidError(pstreeFile, 'holds no process');
  let files: Map<number, string> | undefined;
  const regularFiles = () => (files ??= readRegularFiles(dir));
  return tree.map((entry) => {
    const main = readCore(dir, entry.pid);
    const comm = main.tc?.comm ?? '?';
    // A zombie is restored only to be reaped: it runs nothing and CRIU records no credentials for it.
    if (main.tc?.task_state === TASK_DEAD) return { pid: entry.pid, comm, uids: [], exe: null };
    const uids = new Set<number>();
    const threads = entry.threads.length > 0 ? entry.threads : [entry.pid];
    for (const tid of threads) for (const u of threadUids(dir, tid, tid === entry.pid ? main : readCore(dir, tid))) uids.add(u);
    return { pid: entry.pid, comm, uids: [...uids], exe: readExe(dir, entry.pid, regularFiles) };
  });
}
