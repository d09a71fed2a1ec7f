// What the admin subcommands of the CLI share: where the gateway is, the admin token, one HTTP
// call that turns an OpenAI-shaped error into a message, and plain-text tables.

import type { CliCommand } from './main.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  fetch: typeof fetch;
}

export const processIo = (): CliIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr, fetch: globalThis.fetch });

/** A failure the command reports in one line; `exitCode` 2 for usage mistakes, 1 for everything else. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

export const connectionOptions = {
  'base-url': { type: 'string' },
  'admin-token': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface AdminConnection {
  baseUrl: string;
  token: string;
}

export function connection(values: { 'base-url'?: string; 'admin-token'?: string }, env: CliIo['env']): AdminConnection {
  const baseUrl = (values['base-url'] ?? env.IMAGEGATE_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = values['admin-token'] ?? env.IMAGEGATE_ADMIN_TOKEN;
  if (!token) throw new CliFailure('an admin token is needed: pass --admin-token or set IMAGEGATE_ADMIN_TOKEN', 2);
  if (!/^https?:\/\//.test(baseUrl)) throw new CliFailure(`--base-url must be an http(s) URL, got '${baseUrl}'`, 2);
  return { baseUrl, token };
}

/** Calls /admin/v1{path}; answers the JSON body, or throws CliFailure with the gateway's message. */
export async function adminRequest(io: CliIo, target: AdminConnection, method: string, path: string, body?: unknown): Promise<any> {
  let response: Response;
  try {
    response = await io.fetch(`${target.baseUrl}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new CliFailure(`cannot reach ${target.baseUrl}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const message = parsed?.error?.message ?? (text.slice(0, 200) || response.statusText);
    throw new CliFailure(`${message} (HTTP ${response.status})`);
  }
  return parsed;
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
