// The hot path's statements on PostgreSQL, sent as named (server-side prepared) statements. An
// unnamed statement is parsed and planned by the server at every execution; for the task ledger's
// data-modifying CTEs the planning alone cost about as much as the execution (pg_stat_statements with
// track_planning over scenario 4: ~250 µs of planning per task beside ~280 µs of execution). A named
// statement is parsed once per connection, and after PostgreSQL's first five custom plans it usually
// runs on the cached generic plan, planned no more.
//
// Names come from the text: the first time this process sees a text it gives it the next name, and
// node-postgres prepares it on each connection the first time that connection runs it. Only texts
// handed to this module are named — written out by hand, never the query builder's, whose texts vary
// with their arguments — and at most `maxNamedTexts` of them, so the statements a connection keeps
// prepared are bounded. Prepared statements name their columns: a `SELECT *` prepared before a column
// is added fails afterwards ("cached plan must not change result type"), as it would during a rolling
// upgrade whose new version migrated the table.
//
// Behind a pooler in transaction mode (PgBouncer before 1.21) a statement prepared on one server
// connection is missing on the next: `prepare: false` (database.prepared_statements) sends every
// statement unnamed.

import type pg from 'pg';

export interface Statement {
  text: string;
  values: unknown[];
}

/** A pool whose connect answers a busy pool as the gateway's own error (database.ts). */
export interface ClientSource {
  connect(): Promise<pg.PoolClient>;
}

/** Runs one statement on the connection it was handed (inside a transaction or not). */
export type RunStatement = <Row extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement) => Promise<pg.QueryResult<Row>>;

/** Distinct texts named per process at most; a text seen after that is sent unnamed. */
const maxNamedTexts = 500;

export class PreparedStatements {
  readonly #clients: ClientSource;
  readonly #prepare: boolean;
  readonly #names = new Map<string, string>();

  constructor(clients: ClientSource, options: { prepare: boolean }) {
    this.#clients = clients;
    this.#prepare = options.prepare;
  }

  /** `statement` alone on a pooled connection (autocommit). */
  async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement): Promise<pg.QueryResult<Row>> {
    const client = await this.#clients.connect();
    try {
      return await this.#run<Row>(client, statement);
    } finally {
      client.release();
    }
  }

  /**
   * `work` in one transaction on one pooled connection: committed when it resolves, rolled back when
   * it throws. A connection whose ROLLBACK failed is not trusted again: the pool discards it.
   */
  async transaction<T>(work: (run: RunStatement) => Promise<T>): Promise<T> {
    const client = await this.#clients.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const result = await work((statement) => this.#run(client, statement));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  #run<Row extends pg.QueryResultRow>(client: pg.PoolClient, statement: Statement): Promise<pg.QueryResult<Row>> {
    const name = this.#prepare ? this.#nameOf(statement.text) : undefined;
    return name === undefined ? client.query<Row>(statement.text, statement.values) : client.query<Row>({ name, text: statement.text, values: statement.values });
  }

  #nameOf(text: string): string | undefined {
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= maxNamedTexts) return known;
    const name = `imagegate_${this.#names.size + 1}`;
    this.#names.set(text, name);
    return name;
  }
}
