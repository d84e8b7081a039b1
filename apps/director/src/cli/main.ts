// `sluice <command>` for everything but `run` (../main.ts): finds the command,
// parses its options with the global ones (anywhere on the line), prints help, runs it and turns
// what it throws into a message and an exit code (errors.ts).
import { parseArgs } from 'node:util';
import { type Command, contextClient, GLOBAL_HELP, GLOBAL_OPTIONS, type Io, type Values } from './command.ts';
import { configCommand } from './config-commands.ts';
import { Exit, isCliError } from './errors.ts';
import { listCommand } from './list.ts';
import { defenseCommand, drain, resetCommand, sourcesCommand, undrain } from './ops-commands.ts';
import { importKeepalivedCommand, restoreCommand, saveCommand } from './rules-commands.ts';

export const COMMANDS: readonly Command[] = [
  listCommand,
  saveCommand,
  restoreCommand,
  configCommand,
  drain,
  undrain,
  defenseCommand,
  sourcesCommand,
  resetCommand,
  importKeepalivedCommand,
];

/** The daemon's own commands, run by ../main.ts; listed here for the overview. */
const DAEMON_COMMANDS: [string, string][] = [['run', 'run the director (sluice run --help)']];

export function overview(): string {
  const lines = [...DAEMON_COMMANDS, ...COMMANDS.map((c): [string, string] => [c.name, c.summary])];
  return `usage: sluice COMMAND [OPTIONS]   (sluice COMMAND --help for each)

Commands:
${lines.map(([name, summary]) => `  ${name.padEnd(18)}  ${summary}`).join('\n')}

${GLOBAL_HELP}

Exit status: 0 done; 1 refused (by the director, or a bad input line); 2 usage; 3 the director
cannot be reached; 4 conflict (the config changed meanwhile, or a clash: nothing changed);
5 no token, or the token was refused.
`;
}

const VALUE_OPTIONS = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, o]) => o.type === 'string')
    .map(([name]) => `--${name}`),
);

/** The index of the command word: the first argument that is neither an option nor its value. */
function commandIndex(args: string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  const at = commandIndex(argv);
  const name = at < 0 ? undefined : argv[at];
  if (name === undefined || name === 'help') {
    const topic = at < 0 ? undefined : argv[at + 1];
    const command = COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && command === undefined) {
      io.err(`sluice: no command ${topic}\n${overview()}`);
      return Exit.usage;
    }
    io.out(command === undefined ? overview() : `${command.help}\n\n${GLOBAL_HELP}\n`);
    return Exit.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`sluice: unknown command ${name}\n\n${overview()}`);
    return Exit.usage;
  }
  const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.err(`sluice ${name}: ${(e as Error).message}\n\n${command.help}\n`);
    return Exit.usage;
  }
  if (values.help === true) {
    io.out(`${command.help}\n\n${GLOBAL_HELP}\n`);
    return Exit.ok;
  }
  if (values.json === true && !command.read) {
    io.err(`sluice ${name}: --json is for commands that read; ${name} changes the director\n`);
    return Exit.usage;
  }
  if (positionals.length < command.minArgs || positionals.length > command.maxArgs) {
    io.err(`sluice ${name}: wrong number of arguments\n\n${command.help}\n`);
    return Exit.usage;
  }
  try {
    return await command.run({ values, positionals, io, client: contextClient(values, io.env) });
  } catch (e) {
    if (isCliError(e)) {
      io.err(`sluice ${name}: ${e.message}\n`);
      if (e.exitCode === Exit.usage) io.err(`\n${command.help}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

/** The process's own streams, for ../main.ts. */
export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
  };
}
