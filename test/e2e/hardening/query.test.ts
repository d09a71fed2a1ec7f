// Issue 9, item 11: a query parameter given twice, or with the wrong type, is a 400 naming it on
// every endpoint that takes a query, never a 500 from the layer below.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIError, readResponse } from '../images-api-helpers.js';

let gateway: TestGateway;
const adminToken = 'admin-token-for-query-tests-0123456789';

beforeAll(async () => {
  gateway = await startTestGateway({ adminToken });
});
afterAll(async () => {
  await gateway.close();
});

const get = async (path: string, token = gateway.apiKey) =>
  readResponse(await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } }));

describe('repeated query parameters', () => {
  const cases: Array<[string, string, string?]> = [
    ['/v1/images/tasks?after=a&after=b', 'after'],
    ['/v1/images/tasks?status=queued&status=failed', 'status'],
    ['/v1/images/tasks?limit=1&limit=2', 'limit'],
    ['/v1/usage?from=1&from=2', 'from'],
    ['/v1/usage?group_by=model&group_by=day', 'group_by'],
    ['/v1/files/images/x.png?expires=1&expires=2&signature=a', 'expires'],
    ['/admin/v1/logs?limit=1&limit=2', 'limit', adminToken],
    ['/admin/v1/usage?model=a&model=b', 'model', adminToken],
    ['/v1/models?x=1&x=2', 'x'],
  ];
  for (const [path, param, token] of cases) {
    it(`${path} → 400 naming '${param}'`, async () => {
      const response = await get(path, token);
      expectOpenAIError(response, { status: 400, code: 'invalid_value', param, mentions: [param] });
    });
  }
});

describe('wrongly typed query parameters', () => {
  it('limit that is not an integer', async () => {
    expectOpenAIError(await get('/v1/images/tasks?limit=ten'), { status: 400, code: 'invalid_value', param: 'limit' });
  });
  it('a status that does not exist', async () => {
    expectOpenAIError(await get('/v1/images/tasks?status=done'), { status: 400, code: 'invalid_value', param: 'status' });
  });
  it('a bracketed array form (after[]=…) is not a way around the rule', async () => {
    expectOpenAIError(await get('/v1/images/tasks?after[]=a&after[]=b'), { status: 400, code: 'invalid_value', param: 'after[]' });
  });
  it('an after cursor of a task that does not exist lists nothing rather than failing', async () => {
    const response = await get('/v1/images/tasks?after=task_does_not_exist');
    expect(response.status).toBe(200);
  });
});
