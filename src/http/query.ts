// The rule every query string follows, checked once for every route before its handler runs: each
// parameter at most once, and a bounded number of them. Handlers then see single strings only, so
// a repeated `?after=a&after=b` can never reach a store as an array (it used to: a 500 from SQLite).

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';

/** Far above what any endpoint reads (the most is five); a query is also bounded by the header size. */
export const maxQueryParameters = 32;

export function checkQuery(query: unknown): void {
  if (query === null || typeof query !== 'object') return;
  const entries = Object.entries(query as Record<string, unknown>);
  if (entries.length > maxQueryParameters) {
    throw new GatewayError('invalid_value', `The query string has ${entries.length} parameters; at most ${maxQueryParameters} are accepted.`);
  }
  for (const [name, value] of entries) {
    if (typeof value !== 'string') {
      const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
      throw new GatewayError('invalid_value', `The query parameter '${shown}' must be given once, as a single value.`, { param: shown });
    }
  }
}

export function registerQueryRules(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      checkQuery(request.query);
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  });
}
