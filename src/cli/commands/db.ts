// `imagegate db copy --from <sqlite path> --to <postgres url>`: moves a deployment from its SQLite
// file to PostgreSQL (src/storage/copy-database.ts) and says whether every count and total matched.

import { parseArgs } from 'node:util';
import { CopyRefusedError, copySqliteToPostgres } from '../../storage/copy-database.js';
import type { CliCommand } from '../main.js';

const usage = `usage: imagegate db copy --from <sqlite path> --to <postgres url>

Copies every table of a SQLite deployment (keys and balances, prices, channels, tasks, usage, the
ledger, idempotency keys, webhooks, the request log) into an empty PostgreSQL database, in one
transaction, then compares row counts and money totals on both sides.

  --from PATH   the SQLite file, e.g. ./data/imagegate.sqlite (stop the gateway first)
  --to URL      postgres://user:password@host:port/database, optionally ?schema=name
                (created and migrated if missing; a target holding any row is refused)

Images stay where they are (the data dir's blobs/): start the gateway with the same data dir and
database.url (IMAGEGATE_DATABASE_URL) set to the target.
Exit status: 0 copied and verified, 1 refused or a mismatch, 2 bad usage.
`;

const options = {
  from: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function runDb(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`imagegate db: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (positionals[0] !== 'copy' || positionals.length !== 1 || values.from === undefined || values.to === undefined) {
    process.stderr.write(usage);
    return 2;
  }
  if (!/^postgres(ql)?:\/\//.test(values.to)) {
    process.stderr.write(`imagegate db copy: --to must be a postgres:// URL\n`);
    return 2;
  }
  try {
    const report = await copySqliteToPostgres({ from: values.from, to: values.to, onProgress: (line) => process.stdout.write(`${line}\n`) });
    process.stdout.write('\ntable                      sqlite   postgres\n');
    for (const count of report.tables) {
      process.stdout.write(`${count.table.padEnd(24)} ${String(count.source).padStart(8)} ${String(count.target).padStart(10)}${count.source === count.target ? '' : '   MISMATCH'}\n`);
    }
    process.stdout.write('\nmoney (credits)\n');
    for (const total of report.money) {
      process.stdout.write(`${total.name.padEnd(48)} ${total.source.padStart(14)} ${total.target.padStart(14)}${total.source === total.target ? '' : '   MISMATCH'}\n`);
    }
    if (!report.verified) {
      process.stderr.write('\nimagegate db copy: the copy does NOT match the source (see MISMATCH above); do not switch to it.\n');
      return 1;
    }
    const rows = report.tables.reduce((sum, count) => sum + count.target, 0);
    process.stdout.write(`\nverified: ${rows} rows in ${report.tables.length} tables and every money total match the source.\n`);
    return 0;
  } catch (error) {
    if (error instanceof CopyRefusedError) {
      process.stderr.write(`imagegate db copy: refused: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

export const dbCommand: CliCommand = { summary: 'copy a SQLite deployment into PostgreSQL (db copy --from … --to …)', run: runDb };
