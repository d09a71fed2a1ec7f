// The `imagegate` command: dispatches to one module per subcommand (src/cli/commands/<name>.ts).
// Without a subcommand, or with `serve`, it starts the gateway.

import { parseArgs } from 'node:util';

export interface CliCommand {
  /** One line for the usage text. */
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** Subcommands load lazily so `imagegate generate` does not pay for the server's modules. */
const commands: Record<string, () => Promise<CliCommand>> = {
  serve: async () => ({ summary: 'start the gateway (the default)', run: serve }),
  keys: async () => (await import('./commands/keys.js')).keysCommand,
  channels: async () => (await import('./commands/channels.js')).channelsCommand,
  generate: async () => (await import('./commands/generate.js')).generateCommand,
  tasks: async () => (await import('./commands/tasks.js')).tasksCommand,
  db: async () => (await import('./commands/db.js')).dbCommand,
};

const serveUsage = `usage: imagegate [serve]

Starts the gateway in this process; SIGTERM or SIGINT drains in-flight requests, then exits.
It takes no flags: configure it with the environment (PORT, HOST, IMAGEGATE_DATA_DIR,
IMAGEGATE_CONFIG, IMAGEGATE_API_KEYS, IMAGEGATE_ADMIN_TOKEN …) and the YAML config file; see README.md.
`;

/** `serve` accepts only --help: any other word or flag is refused before anything starts. */
async function serve(argv: string[]): Promise<number> {
  let help: boolean | undefined;
  try {
    ({ values: { help } } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }));
  } catch (error) {
    process.stderr.write(`imagegate serve: ${error instanceof Error ? error.message : String(error)}\n${serveUsage}`);
    return 2;
  }
  if (help) {
    process.stdout.write(serveUsage);
    return 0;
  }
  await import('../main.js');
  // The server runs until a signal ends the process (main.ts exits after draining).
  return new Promise<number>(() => undefined);
}

export function registerCommand(name: string, load: () => Promise<CliCommand>): void {
  commands[name] = load;
}

async function usage(): Promise<string> {
  const lines = ['usage: imagegate <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`);
  return lines.join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await usage()}\n`);
    return 0;
  }
  const load = commands[name ?? 'serve'];
  if (!load) {
    process.stderr.write(`imagegate: unknown command '${name}'\n${await usage()}\n`);
    return 2;
  }
  return (await load()).run(rest);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (invokedDirectly) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`imagegate: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
