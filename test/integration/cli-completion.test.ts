/**
 * `ferry completion bash`, loaded into a real bash: commands, subcommands and options complete
 * from the command tree; a word that is neither falls back to file completion. zsh gets the same
 * function through bashcompinit (no zsh on this machine to run it in). Run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const FERRY = path.resolve(__dirname, '..', '..', 'bin', 'ferry.js');

/** The completions bash offers for the command line `words` (the last word is being completed). */
function complete(...words: string[]): string[] {
  const script = [
    `source <(${JSON.stringify(process.execPath)} ${JSON.stringify(FERRY)} completion bash)`,
    `COMP_WORDS=(ferry ${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length}`,
    '_ferry',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean).sort();
}

it('completes top-level commands', () => {
  expect(complete('chec')).toEqual(['check', 'checkpoint', 'checkpoints']);
  expect(complete('mig')).toEqual(['migrate']);
});

it('completes subcommands of a group', () => {
  expect(complete('checkpoints', '')).toEqual(['--help', 'ls', 'rm', 'show']);
  expect(complete('dev', 're')).toEqual(['reset']);
});

it("completes a command's options after other options and their values", () => {
  expect(complete('dump', '--pid', '1234', '--imag')).toEqual(['--images-dir']);
  expect(complete('schedule', 'create', 'nightly-db', '--cr')).toEqual(['--cron']);
  expect(complete('worker', '--metr')).toEqual(['--metrics-address']);
});

it('offers nothing of its own for values (the shell completes files there), and refuses an unknown shell', () => {
  expect(complete('dump', '--images-dir', './pre')).toEqual([]);
  const r = spawnSync(process.execPath, [FERRY, 'completion', 'fish'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/ferry completion supports bash and zsh, got "fish"/);
});

it('the zsh script is the bash function behind bashcompinit', () => {
  const r = spawnSync(process.execPath, [FERRY, 'completion', 'zsh'], { encoding: 'utf8' });
  expect(r.stdout).toMatch(/^# ferry completion for zsh.*\nautoload -U \+X bashcompinit && bashcompinit\n/);
  expect(r.stdout).toContain('complete -o default -F _ferry ferry');
});
