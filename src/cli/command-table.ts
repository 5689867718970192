/**
 * Commands as definitions: each command is one entry (name, description, arguments, options, help
 * text, action), option sets shared by several commands are defined once, and addCommands turns
 * the entries into commander commands. A command's whole interface reads in one place, apart from
 * what it does.
 */
import type { Command } from 'commander';

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

function addCommand(parent: Command, def: CommandDef): Command {
  const command = parent.command(def.name).description(def.description);
  for (const arg of def.args ?? []) command.argument(arg.name, arg.help);
  for (const opt of def.options ?? []) {
    if (opt.required) command.requiredOption(opt.flags, opt.help);
    else command.option(opt.flags, opt.help);
  }
  if (def.helpAfter !== undefined) command.addHelpText('after', def.helpAfter);
  if (def.action) command.action(def.action);
  addCommands(command, def.subcommands ?? []);
  return command;
}
