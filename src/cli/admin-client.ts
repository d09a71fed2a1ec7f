// What the admin subcommands of the CLI share: where the gateway is, the admin token, one HTTP
// call that turns an OpenAI-shaped error into a message, and plain-text tables.

import { parseArgs } from 'node:util';
import { CliFailure, gatewayRequest, gatewayTarget, type CliIo, type GatewayTarget } from './gateway-http.js';
import type { CliCommand } from './main.js';

export const connectionOptions = {
  'base-url': { type: 'string' },
  'admin-token': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function connection(values: { 'base-url'?: string; 'admin-token'?: string }, env: CliIo['env']): GatewayTarget {
  return gatewayTarget(values['base-url'], env, values['admin-token'] ?? env.IMAGEGATE_ADMIN_TOKEN, 'an admin token is needed: pass --admin-token or set IMAGEGATE_ADMIN_TOKEN');
}

/** Calls /admin/v1{path}; answers the JSON body, or throws CliFailure with the gateway's message. */
export function adminRequest(io: CliIo, target: GatewayTarget, method: string, path: string, body?: unknown): Promise<any> {
  return gatewayRequest(io, target, method, `/admin/v1${path}`, body);
}

type AdminOptions = typeof connectionOptions & Record<string, { type: 'string' | 'boolean'; short?: string }>;
type ParsedAdminArgs<Options extends AdminOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: Options; allowPositionals: true; strict: true }>>;

/** An admin subcommand ready to act: its action, parsed flags, the gateway, and a printer that honours --json. */
export interface AdminInvocation<Options extends AdminOptions> {
  action: string;
  values: ParsedAdminArgs<Options>['values'];
  positionals: string[];
  target: GatewayTarget;
  print(json: unknown, text: string): void;
}

/**
 * The start every `imagegate <noun> <action>` admin command shares. With --help, `help` or no
 * action it prints the usage and answers the exit code (2 when the action is missing).
 */
export function startAdminCommand<Options extends AdminOptions>(argv: string[], io: CliIo, options: Options, usage: string): AdminInvocation<Options> | { exitCode: number } {
  // Flags may come before the action (`keys --help`, `keys --json list`): the action is the first positional.
  const { values, positionals: words } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [action, ...positionals] = words;
  const flags = values as { help?: boolean; json?: boolean; 'base-url'?: string; 'admin-token'?: string };
  if (flags.help || action === undefined || action === 'help') {
    io.stdout.write(usage);
    return { exitCode: action === undefined && !flags.help ? 2 : 0 };
  }
  const target = connection(flags, io.env);
  const print = (json: unknown, text: string) => void io.stdout.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : text);
  return { action, values, positionals, target, print };
}

/** Left-aligned columns separated by two spaces; empty values shown as `-`. */
export function table(headers: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell))));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]?.length ?? 0)));
  const line = (values: string[]) => values.map((value, column) => value.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** Runs a command body, printing a CliFailure as one line and answering its exit code. */
export function asCommand(summary: string, io: () => CliIo, body: (argv: string[], io: CliIo) => Promise<number>): CliCommand {
  return {
    summary,
    async run(argv) {
      const streams = io();
      try {
        return await body(argv, streams);
      } catch (error) {
        if (error instanceof CliFailure) {
          streams.stderr.write(`imagegate: ${error.message}\n`);
          return error.exitCode;
        }
        // node:util parseArgs reports unknown options and missing values this way.
        if (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
          streams.stderr.write(`imagegate: ${error.message}\n`);
          return 2;
        }
        throw error;
      }
    },
  };
}
