// Moves a deployment's SQLite database into an empty PostgreSQL database (`imagegate db copy`):
// every table the SQLite file holds, row for row and in one transaction, then checks that both
// sides hold the same number of rows per table and the same money totals.

import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openSqliteDatabase } from './sqlite/database.js';
import { migrate } from './sqlite/migrate.js';
import { openPostgresDatabase, parsePostgresUrl, redactPostgresUrl } from './postgres/database.js';
import { migratePostgres } from './postgres/migrate.js';

export interface TableCount {
  table: string;
  source: number;
  target: number;
}

export interface MoneyTotal {
  /** What is summed, e.g. `api_keys.balance`. */
  name: string;
  source: string;
  target: string;
}

export interface CopyReport {
  tables: TableCount[];
  money: MoneyTotal[];
  /** True when every count and every total matches. */
  verified: boolean;
}

/** Money and the facts that explain it: each summed on both sides as exact integers. */
const moneyColumns: Array<{ table: string; column: string; where?: string }> = [
  { table: 'api_keys', column: 'balance' },
  { table: 'billing_ledger', column: 'amount' },
  { table: 'billing_usage', column: 'amount' },
  { table: 'billing_reservations', column: 'debited', where: "status = 'held'" },
  { table: 'billing_reservations', column: 'estimated' },
];

/** Rows per INSERT, kept under PostgreSQL's 65,535 bound parameters. */
const maxParameters = 60_000;

export class CopyRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyRefusedError';
  }
}

/** A connection failure, told plainly (the URL without its password); undefined for any other error. */
function unreachable(error: unknown, url: string): CopyRefusedError | undefined {
  const code = (error as { code?: string }).code ?? ((error as { cause?: { code?: string } }).cause?.code);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === '3D000' || code === '28P01' || code === '28000') {
    return new CopyRefusedError(`cannot reach PostgreSQL at ${redactPostgresUrl(url)} (${code})`);
  }
  return undefined;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export async function copySqliteToPostgres(options: { from: string; to: string; onProgress?: (line: string) => void }): Promise<CopyReport> {
  const progress = options.onProgress ?? (() => undefined);
  if (!existsSync(options.from)) throw new CopyRefusedError(`no SQLite database at ${options.from}`);
  // Brought up to date first, as a start would: both sides then have the same tables and columns.
  const sourceDatabase = openSqliteDatabase({ file: options.from });
  try {
    await migrate(sourceDatabase.db);
  } finally {
    await sourceDatabase.close();
  }
  const target = openPostgresDatabase({ url: options.to, maxConnections: 1 });
  try {
    await migratePostgres(target.db, { schema: target.schema });
  } catch (error) {
    throw unreachable(error, options.to) ?? error;
  } finally {
    await target.close();
  }

  const source = new Database(options.from, { readonly: true, fileMustExist: true });
  const { connectionString, schema } = parsePostgresUrl(options.to);
  const client = new pg.Client({ connectionString, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const tables = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").all() as Array<{ name: string }>).map((row) => row.name);
    const targetTables = new Set(
      (await client.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).rows.map((row) => row.table_name),
    );
    const missing = tables.filter((table) => !targetTables.has(table));
    if (missing.length > 0) throw new CopyRefusedError(`PostgreSQL has no table for ${missing.join(', ')}: this build's Postgres migrations lag the SQLite ones`);
    for (const table of tables) {
      const { rows } = await client.query<{ present: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quote(table)}) AS present`);
      if (rows[0]?.present) throw new CopyRefusedError(`the target is not empty (table ${table} has rows); copy only into a fresh database or schema`);
    }

    await client.query('BEGIN');
    try {
      for (const table of tables) {
        const columns = (source.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).all(table) as Array<{ name: string }>).map((row) => row.name);
        const rowsPerInsert = Math.max(1, Math.floor(maxParameters / columns.length));
        // Integers read as BigInt, so a value is carried exactly whatever its size.
        const reader = source.prepare(`SELECT ${columns.map(quote).join(', ')} FROM ${quote(table)} ORDER BY rowid`).raw(true).safeIntegers(true);
        let batch: unknown[][] = [];
        let copied = 0;
        const flush = async () => {
          if (batch.length === 0) return;
          const values: unknown[] = [];
          const tuples = batch.map((row) => `(${row.map((value) => (values.push(value), `$${values.length}`)).join(', ')})`);
          await client.query(`INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES ${tuples.join(', ')}`, values);
          copied += batch.length;
          batch = [];
        };
        for (const row of reader.iterate() as IterableIterator<unknown[]>) {
          batch.push(row.map((value) => (typeof value === 'bigint' ? value.toString() : value)));
          if (batch.length >= rowsPerInsert) await flush();
        }
        await flush();
        progress(`copied ${table}: ${copied} rows`);
      }
      // Tables with identity ids keep them; each sequence continues after the highest one.
      for (const identityTable of ['billing_ledger', 'audit_log', 'task_events']) {
        if (!tables.includes(identityTable)) continue;
        await client.query(`SELECT setval(pg_get_serial_sequence('${identityTable}', 'id'), coalesce((SELECT max(id) FROM ${identityTable}), 0) + 1, false)`);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }

    const counts: TableCount[] = [];
    for (const table of tables) {
      const sourceCount = (source.prepare(`SELECT count(*) AS count FROM ${quote(table)}`).get() as { count: number }).count;
      const targetCount = Number((await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${quote(table)}`)).rows[0]?.count ?? -1);
      counts.push({ table, source: sourceCount, target: targetCount });
    }
    const money: MoneyTotal[] = [];
    for (const { table, column, where } of moneyColumns) {
      if (!tables.includes(table)) continue;
      const filter = where === undefined ? '' : ` WHERE ${where}`;
      const sourceTotal = source.prepare(`SELECT coalesce(sum(${quote(column)}), 0) AS total FROM ${quote(table)}${filter}`).safeIntegers(true).get() as { total: bigint };
      const targetTotal = (await client.query<{ total: string }>(`SELECT coalesce(sum(${quote(column)}), 0)::text AS total FROM ${quote(table)}${filter}`)).rows[0];
      money.push({ name: `${table}.${column}${where === undefined ? '' : ` (${where})`}`, source: sourceTotal.total.toString(), target: targetTotal?.total ?? '?' });
    }
    const verified = counts.every((count) => count.source === count.target) && money.every((total) => total.source === total.target);
    return { tables: counts, money, verified };
  } catch (error) {
    throw unreachable(error, options.to) ?? error;
  } finally {
    source.close();
    await client.end().catch(() => undefined);
  }
}
