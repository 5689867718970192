/**
 * Commands as definitions: each command is one entry (name, description, arguments, options, help
 * text, action), option sets shared by several commands are defined once, and addCommands turns
 * the entries into commander commands. A command's whole interface reads in one place, apart from
 * what it does.
 */
import type { Command, Option } from 'commander';

export interface OptionDef {
  /** Commander's flags, e.g. '--pid <pid>' or '--no-warm'. */
  flags: string;
  help: string;
  /** A required option: commander refuses the command without it. */
  required?: boolean;
}

export interface ArgumentDef {
  /** '<name>' for a required argument. */
  name: string;
  help: string;
}

export interface CommandDef {
  name: string;
  description: string;
  args?: ArgumentDef[];
  options?: OptionDef[];
  /** Shown after the generated help (examples, caveats). */
  helpAfter?: string;
  /** Receives the arguments, then the parsed options, as commander passes them. */
  action?: Parameters<Command['action']>[0];
  /** A group command (`ferry schedule ...`) has subcommands instead of an action. */
  subcommands?: CommandDef[];
}

/** `--json`: every command that prints a result can print it as JSON; only the wording differs. */
export function jsonOption(help = 'print JSON'): OptionDef {
  return { flags: '--json', help };
}

export function addCommands(parent: Command, defs: readonly CommandDef[]): void {
  for (const def of defs) addCommand(parent, def);
}

/**
 * An argument given to a command that takes none; `ferry checkpoint ls` most likely meant the
 * plural command group (`ferry checkpoints ls`), and says so.
 */
function strayArgumentMessage(parent: Command, name: string, args: readonly string[]): string {
  const group = parent.commands.find((c) => c.name() === `${name}s`);
  const sub = group?.commands.find((c) => c.name() === args[0] || c.aliases().includes(args[0]!));
  const where = parent.parent ? `${parent.name()} ${name}` : name;
  const hint = sub ? `; did you mean \`ferry ${parent.parent ? `${parent.name()} ` : ''}${name}s ${args[0]}\`?` : '';
  return `error: \`ferry ${where}\` takes no arguments, got ${JSON.stringify(args[0])}${hint}`;
}

function addCommand(parent: Command, def: CommandDef): Command {
  const command = parent.command(def.name).description(def.description);
  for (const arg of def.args ?? []) command.argument(arg.name, arg.help);
  const required: Option[] = [];
  for (const opt of def.options ?? []) {
    command.option(opt.flags, opt.help);
    if (opt.required) required.push(command.options.at(-1)!);
  }
  // Checked only once commander has refused unknown options and stray arguments: `dump -p 1234`
  // is a misspelt option, not a missing --pid, and `checkpoint ls` is a misspelt command.
  const takesArguments = (def.args ?? []).length > 0 || (def.subcommands ?? []).length > 0;
  if (!takesArguments) command.allowExcessArguments(true);
  command.hook('preAction', (cmd) => {
    if (!takesArguments && cmd.args.length > 0) cmd.error(strayArgumentMessage(parent, def.name, cmd.args), { code: 'commander.excessArguments' });
    const missing = required.find((o) => cmd.getOptionValue(o.attributeName()) === undefined);
    if (missing) cmd.error(`error: required option '${missing.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue' });
  });
  if (def.helpAfter !== undefined) command.addHelpText('after', def.helpAfter);
  if (def.action) command.action(def.action);
  addCommands(command, def.subcommands ?? []);
  return command;
}
