// Every input has a bound, nesting included: V8 parses a JSON body nested 100,000 levels deep, but
// anything that later walks it recursively (JSON.stringify for a task row, an upstream call, a
// fingerprint) would overflow the stack. Such a body is a 400 at the edge, never a 500.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, postJson } from '../images-api-helpers.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway.close();
});

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('JSON nesting is bounded', () => {
  for (const path of ['/v1/images/generations', '/v1/images/edits', '/v1/images/generations?async=true']) {
    it(`${path}: an unknown field nested 100,000 deep → 400 invalid_json`, async () => {
      const body = `{"model":"dall-e-2","prompt":"p","size":"256x256","extra":${nested(100_000)}}`;
      const error = expectOpenAIError(await postJson(gateway, path, body, { 'idempotency-key': `deep-${path}` }), { status: 400, code: 'invalid_json' });
      expect(error.message).toMatch(/nested more than 32 levels/);
    });
  }

  it('ordinary nesting (provider options a few levels deep) passes', async () => {
    const response = await postJson(gateway, '/v1/images/generations', { model: 'dall-e-2', prompt: 'p', size: '256x256', response_format: 'b64_json', loras: [{ path: 'a', scale: [0.5, { x: 1 }] }] });
    expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
  });
});
