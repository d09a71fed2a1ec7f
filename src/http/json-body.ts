// JSON bodies: Fastify's own parser (prototype-poisoning checks, empty-body and syntax errors), plus a
// bound on nesting. V8 parses a body nested a hundred thousand levels deep without complaint, but
// everything after it that walks the value recursively (JSON.stringify for a task row or an upstream
// call, fingerprints) would overflow the stack: such a body is refused at the edge instead.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';

/** Far deeper than any real request (image URLs sit at depth 3, provider options at 4 or 5). */
export const maxJsonDepth = 32;

/**
 * Whether a parsed value nests objects or arrays deeper than `limit`. Recursive, but never deeper than
 * `limit` + 1 calls whatever the value (it stops there), and without allocating: it runs on every body.
 */
export function exceedsDepth(value: unknown, limit: number): boolean {
  return value !== null && typeof value === 'object' && nestsDeeper(value, 1, limit);
}

function nestsDeeper(node: object, depth: number, limit: number): boolean {
  if (depth > limit) return true;
  if (Array.isArray(node)) {
    for (const child of node as unknown[]) if (child !== null && typeof child === 'object' && nestsDeeper(child, depth + 1, limit)) return true;
    return false;
  }
  // Parsed JSON: own enumerable properties only (Fastify's parser refuses __proto__ and constructor).
  for (const name in node) {
    const child = (node as Record<string, unknown>)[name];
    if (child !== null && typeof child === 'object' && nestsDeeper(child, depth + 1, limit)) return true;
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
