/**
 * Runs the `ferry` command in-process through main(), capturing what it prints, or as the real
 * command (bin/ferry.js, needs `npm run build`) for commands that must outlive a call, such as
 * `ferry page-server` running while a dump connects to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { main } from '../../src/cli/main';

const FERRY_BIN = path.resolve(__dirname, '..', '..', 'bin', 'ferry.js');

export interface FerryRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** One command in-process; stdout and stderr are captured, not printed. Not reentrant. */
export async function ferryInProcess(...args: string[]): Promise<FerryRun> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  try {
    const code = await main(['node', 'ferry', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The real command as a child process: its output so far, and its end. */
export function ferryProcess(...args: string[]): { child: ChildProcess; output: () => FerryRun; done: Promise<FerryRun> } {
  return ferryProcessWithEnv(undefined, ...args);
}

/**
 * The same with an environment of the test's choosing. Under Jest a test's `process.env` is a
 * copy that a spawned child does not inherit: a setting a test made reaches the child only here.
 */
export function ferryProcessWithEnv(env: NodeJS.ProcessEnv | undefined, ...args: string[]): { child: ChildProcess; output: () => FerryRun; done: Promise<FerryRun> } {
  const child = spawn(process.execPath, [FERRY_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<FerryRun>((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { child, output: () => ({ code: child.exitCode ?? -1, stdout, stderr }), done };
}
