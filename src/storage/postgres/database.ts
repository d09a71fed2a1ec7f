// Opens a PostgreSQL database (node-postgres pool behind Kysely's PostgresDialect): one pool per process.
// Integers come back as JavaScript numbers, checked to be exact, so the stores share SQLite's row types.

import { Kysely, PostgresDialect, type PostgresPool } from 'kysely';
import pg from 'pg';
import { GatewayError } from '../../core/errors.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { PreparedStatements, type ClientSource } from './prepared-statements.js';

export interface PostgresDatabase {
  db: Kysely<DatabaseSchema>;
  /** The hot path's hand-written statements, on the same pool (prepared-statements.ts). */
  statements: PreparedStatements;
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
  /** How long a query waits for a connection while all are busy before a 503; default 30 s. */
  poolWaitMs?: number;
  /** Send the hot path's statements as named prepared statements; default true (see prepared-statements.ts). */
  prepareStatements?: boolean;
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

/** A new connection to a server that does not answer fails in seconds, not after the OS's TCP timeout. */
const connectTimeoutMs = 5_000;

/**
 * How long a query waits for one of the pool's connections while all are busy. A burst on one key
 * queues on that key's row lock, holding connections meanwhile: it waits its turn (a synchronous image
 * request may take far longer than this anyway) instead of failing as it did at 5 s under load.
 */
const defaultPoolWaitMs = 30_000;

/** The connection's own connect timeout, which the pool's option (its queue wait) would otherwise set. */
class PromptlyConnectingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(typeof config === 'string' ? { connectionString: config, connectionTimeoutMillis: connectTimeoutMs } : { ...config, connectionTimeoutMillis: connectTimeoutMs });
  }
}

/** pg-pool's error for a wait in its queue that outlasted `connectionTimeoutMillis`. */
const poolWaitTimeoutMessage = 'timeout exceeded when trying to connect';

/** The pool for Kysely, with a wait for a busy pool answered 503 (retry shortly), not a 500. */
function busyAware(pool: pg.Pool): PostgresPool & ClientSource {
  return {
    connect: () =>
      pool.connect().catch((error: unknown) => {
        if (error instanceof Error && error.message === poolWaitTimeoutMessage) {
          throw new GatewayError('service_unavailable', 'The gateway is busy: every database connection stayed in use. Retry shortly.', { retryAfterSeconds: 1, cause: error });
        }
        throw error;
      }),
    end: () => pool.end(),
  };
}

export function openPostgresDatabase(options: PostgresDatabaseOptions): PostgresDatabase {
  const { connectionString, schema } = parsePostgresUrl(options.url);
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    types,
    Client: PromptlyConnectingClient,
    connectionTimeoutMillis: options.poolWaitMs ?? defaultPoolWaitMs,
    // How an operator tells imagegate's connections apart in pg_stat_activity.
    application_name: 'imagegate',
    // Every connection looks in the configured schema first; `public` stays reachable for extensions.
    options: `-c search_path=${schema},public`,
  });
  // An idle connection the server drops (restart, failover) is an error on the pool, not a crash:
  // the pool replaces it, and queries report their own errors.
  pool.on('error', () => undefined);
  const clients = busyAware(pool);
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool: clients }) });
  let closing: Promise<void> | undefined;
  return {
    db,
    statements: new PreparedStatements(clients, { prepare: options.prepareStatements ?? true }),
    schema,
    close: () => {
      closing ??= db.destroy();
      return closing;
    },
  };
}
