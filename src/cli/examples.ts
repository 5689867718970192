/**
 * Examples for the `--help` of commands whose definitions carry none of their own, so that every
 * command teaches by example (test/unit/cli-help-examples.test.ts walks the whole command tree).
 * Keyed by the command's path below `ferry`.
 */
import type { Command } from 'commander';

const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  'pre-dump': [
    'ferry pre-dump --pid 1234 --images-dir ./predump-1',
    'ferry pre-dump --pid 1234 --images-dir ./predump-2 --prev-images-dir ./predump-1',
  ],
  push: ['ferry push ./final-dump --checkpoint web-1-nightly      # follows parent links down to the first pre-dump'],
  pull: ['ferry pull web-1-nightly --into ./restore-here && ferry restore --images-dir ./restore-here/layer-2'],
  'checkpoints ls': ['ferry checkpoints ls', 'ferry checkpoints ls --json | jq -r \'.[] | select(.complete) | .checkpointId\''],
  'checkpoints show': ['ferry checkpoints show web-1-4242-1a2b3c4d', 'ferry checkpoints show web-1-4242-1a2b3c4d --json | jq .layers'],
  'checkpoints rm': ['ferry checkpoints rm web-1-4242-1a2b3c4d      # blobs another checkpoint uses stay'],
  gc: ['ferry gc --keep-last 10 --dry-run      # says what it would keep and why', 'ferry gc --keep-last 10 --grace-hours 48'],
  'restore-checkpoint': ['ferry restore-checkpoint web-1-4242-1a2b3c4d --host web-2 --wait'],
  status: ['ferry status ferry-process-web-1-4242', 'ferry status web-1-4242-1a2b3c4d --json      # by checkpoint id'],
  'schedule ls': ['ferry schedule ls', 'ferry schedule ls --json'],
  'schedule show': ['ferry schedule show nightly-db'],
  'schedule trigger': ['ferry schedule trigger nightly-db      # one run now, skipped if one is still going'],
  'schedule pause': ['ferry schedule pause nightly-db --note "db migration tonight"'],
  'schedule unpause': ['ferry schedule unpause nightly-db'],
  'schedule delete': ['ferry schedule delete nightly-db      # its warm chain stays until gc releases it'],
  'dev up': ['ferry dev up && eval "$(ferry dev env)"'],
  'dev down': ['ferry dev down      # data is kept for the next `ferry dev up`'],
  'dev status': ['ferry dev status', 'ferry dev status --json'],
  'dev env': ['eval "$(ferry dev env)"      # then the temporal CLI and the AWS CLI reach the dev stack too'],
  'dev reset': ['ferry dev reset      # after `make demo`: its checkpoints and schedules go, the stack keeps running'],
  'triggers ls': ['ferry triggers ls', 'ferry triggers ls --json'],
  'triggers test': ['ferry triggers test protect-db', 'ferry triggers test protect-db --event request --deadline 2026-12-01T02:00:00Z --json'],
};

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Adds the examples above to each command they name (call once the tree is built). */
export function addExamples(program: Command): void {
  const visit = (cmd: Command): void => {
    const lines = EXAMPLES[pathOf(cmd)];
    if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
    cmd.commands.forEach(visit);
  };
  program.commands.forEach(visit);
}
