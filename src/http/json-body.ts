// JSON bodies: Fastify's own parser (prototype-poisoning checks, empty-body and syntax errors), plus a
// bound on nesting. V8 parses a body nested a hundred thousand levels deep without complaint, but
// everything after it that walks the value recursively (JSON.stringify for a task row or an upstream
// call, fingerprints) would overflow the stack: such a body is refused at the edge instead.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';

/** Far deeper than any real request (image URLs sit at depth 3, provider options at 4 or 5). */
export const maxJsonDepth = 32;

/** Whether a parsed value nests objects or arrays deeper than `limit`; walked without recursion. */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

export function registerJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (error: Error | null, value?: unknown) => {
      if (error) {
        done(error, undefined);
        return;
      }
      if (exceedsDepth(value, maxJsonDepth)) {
        done(new GatewayError('invalid_json', `The JSON body is nested more than ${maxJsonDepth} levels deep.`), undefined);
        return;
      }
      done(null, value);
    });
  });
}
