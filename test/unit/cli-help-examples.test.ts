/** Every command's --help teaches by example: the whole command tree is walked, none is left out. */
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { ferryInProcess } from '../helpers/ferry-cli';

function leaves(cmd: Command, path: string[] = []): string[][] {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (subs.length === 0) return path.length > 0 ? [path] : [];
  return subs.flatMap((c) => leaves(c, [...path, c.name()]));
}

const commands = leaves(buildProgram());

it('covers the whole tree', () => {
  expect(commands.length).toBeGreaterThan(30);
  expect(commands).toContainEqual(['checkpoints', 'ls']);
});

test.each(commands.map((p) => [p.join(' '), p] as const))('ferry %s --help has examples that use the command', async (_name, path) => {
  const run = await ferryInProcess(...path, '--help');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/\nExamples?:\n/);
  // Each example line runs this very command (or sets up the shell for it).
  const examples = run.stdout.split(/\nExamples?:\n/)[1]!.split('\n').filter((l) => l.trim().startsWith('$ '));
  expect(examples.length).toBeGreaterThan(0);
  expect(examples.some((l) => l.includes(`ferry ${path.join(' ')}`))).toBe(true);
});
