/**
 * `ferry completion bash|zsh`: a shell completion script made from the command tree itself, so it
 * never falls behind the commands. It completes command and subcommand names and each command's
 * options; anything else (pids, dirs, ids) falls back to the shell's own file completion.
 * zsh uses the same function through its bash compatibility (bashcompinit).
 */
import type { Command } from 'commander';
import { UsageError } from './usage-error';

interface Node {
  path: string;
  words: string[];
}

function collect(cmd: Command, path: string[], out: Node[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  const options = cmd.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => typeof f === 'string');
  out.push({ path: path.join(' '), words: [...subs.map((c) => c.name()), ...options, '--help'] });
  for (const c of subs) collect(c, [...path, c.name()], out);
}

function bashScript(program: Command): string {
  const nodes: Node[] = [];
  collect(program, [], nodes);
  const known = nodes.filter((n) => n.path !== '').map((n) => `"${n.path}"`).join('|');
  const cases = nodes.map((n) => `    "${n.path}") words="${n.words.join(' ')}" ;;`).join('\n');
  return `# ferry completion for bash (made by \`ferry completion bash\`; regenerate after upgrading ferry)
_ferry() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i w words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    case "\${path:+$path }$w" in
      ${known}) path="\${path:+$path }$w" ;;
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _ferry ferry
`;
}

/** The completion script for `shell`; a UsageError for a shell it does not support. */
export function completionScript(program: Command, shell: string): string {
  if (shell === 'bash') return bashScript(program);
  if (shell === 'zsh') return `# ferry completion for zsh, through zsh's bash completion support\nautoload -U +X bashcompinit && bashcompinit\n${bashScript(program)}`;
  throw new UsageError(`ferry completion supports bash and zsh, got ${JSON.stringify(shell.slice(0, 20))}`);
}
