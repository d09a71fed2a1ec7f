// Opens a PostgreSQL database (node-postgres pool behind Kysely's PostgresDialect): one pool per process.
// Integers come back as JavaScript numbers, checked to be exact, so the stores share SQLite's row types.

import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DatabaseSchema } from '../sql/schema.js';

export interface PostgresDatabase {
  db: Kysely<DatabaseSchema>;
  /** The schema every table lives in (`public` unless the URL names one with `?schema=`). */
  schema: string;
  /** Ends the pool; safe to call more than once. */
  close(): Promise<void>;
}

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database`, optionally `?schema=name`. */
  url: string;
  /** Connections in the pool; default 10. */
  maxConnections?: number;
}

/** int8 (bigint: times, money, counts) and numeric (sums of bigints). */
const int8Oid = 20;
const numericOid = 1700;

/**
 * Times are ms since epoch and money is integer credits: both fit a double exactly up to 2^53, and a
 * value past it would be wrong, not approximate, so it is refused instead of rounded.
 */
function exactInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`integer ${text} from PostgreSQL is beyond 2^53 and cannot be represented exactly`);
  return value;
}

function exactNumber(text: string): number {
  return /^-?\d+$/.test(text) ? exactInteger(text) : Number(text);
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === int8Oid) return exactInteger;
    if (oid === numericOid) return exactNumber;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** Splits our `schema` parameter from the URL: node-postgres would pass unknown parameters to the server. */
export function parsePostgresUrl(url: string): { connectionString: string; schema: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? 'public';
  if (!schemaNamePattern.test(schema)) throw new RangeError(`database.url: schema '${schema}' must be lower-case letters, digits and _`);
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

/** The URL without its password, for logs and errors. */
export function redactPostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://…';
  }
}

export function openPostgresDatabase(options: PostgresDatabaseOptions): PostgresDatabase {
  const { connectionString, schema } = parsePostgresUrl(options.url);
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    types,
    // A start against an unreachable server fails in seconds, not after the OS's TCP timeout.
    connectionTimeoutMillis: 5_000,
    // How an operator tells imagegate's connections apart in pg_stat_activity.
    application_name: 'imagegate',
    // Every connection looks in the configured schema first; `public` stays reachable for extensions.
    options: `-c search_path=${schema},public`,
  });
  // An idle connection the server drops (restart, failover) is an error on the pool, not a crash:
  // the pool replaces it, and queries report their own errors.
  pool.on('error', () => undefined);
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  let closing: Promise<void> | undefined;
  return {
    db,
    schema,
    close: () => {
      closing ??= db.destroy();
      return closing;
    },
  };
}
