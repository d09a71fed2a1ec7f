// Catalog overrides from the YAML config (IMAGEGATE_CONFIG), through loadConfig to a running gateway:
// a changed limit and an alias that serves dall-e-3 with another model show on /v1/models and in validation.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

interface ModelEntry {
  id: string;
  imagegate: { alias_of: string | null; max_n: number; prompt_max_length: number; sizes: { enum?: string[] } };
}

let folder: string;
let gateway: TestGateway;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-overrides-'));
  const configFile = join(folder, 'imagegate.yaml');
  await writeFile(
    configFile,
    [
      'catalog:',
      '  models:',
      '    - id: dall-e-2',
      '      max_n: 2',
      '      prompt_max_length: 50',
      '  aliases:',
      '    dall-e-3: gpt-image-1',
      '    house-fast: flux-schnell',
    ].join('\n'),
  );
  gateway = await startTestGateway({}, { env: { IMAGEGATE_CONFIG: configFile } });
});
afterAll(async () => {
  await gateway.close();
  await rm(folder, { recursive: true, force: true });
});

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(gateway.url + path, { headers: { authorization: `Bearer ${gateway.apiKey}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

function generate(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${gateway.url}/v1/images/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function expectBadParam(response: Response, param: string): Promise<string> {
  expect(response.status).toBe(400);
  const body = (await response.json()) as { error: { param: string; code: string; message: string } };
  expect(body.error.param).toBe(param);
  return body.error.message;
}

describe('a changed limit', () => {
  it('shows on /v1/models/{id}', async () => {
    const model = await getJson<ModelEntry>('/v1/models/dall-e-2');
    expect(model.imagegate).toMatchObject({ max_n: 2, prompt_max_length: 50, alias_of: null });
  });

  it('is what requests are validated against', async () => {
    await expectBadParam(await generate({ model: 'dall-e-2', prompt: 'x', n: 3 }), 'n');
    expect(await expectBadParam(await generate({ model: 'dall-e-2', prompt: 'y'.repeat(51) }), 'prompt')).toContain('maximum for dall-e-2 is 50');
    const allowed = await generate({ model: 'dall-e-2', prompt: 'two boats', n: 2, size: '256x256', response_format: 'b64_json' });
    expect(allowed.status).toBe(200);
    expect(((await allowed.json()) as { data: unknown[] }).data).toHaveLength(2);
  });
});

describe('an alias that serves dall-e-3 with gpt-image-1', () => {
  it('describes dall-e-3 with the capabilities of gpt-image-1', async () => {
    const [aliased, target] = await Promise.all([getJson<ModelEntry>('/v1/models/dall-e-3'), getJson<ModelEntry>('/v1/models/gpt-image-1')]);
    expect(aliased.id).toBe('dall-e-3');
    expect(aliased.imagegate.alias_of).toBe('gpt-image-1');
    expect(aliased.imagegate.sizes).toEqual(target.imagegate.sizes);
  });

  it('lists every name a client may call once, aliases included', async () => {
    const list = await getJson<{ data: ModelEntry[] }>('/v1/models');
    const ids = list.data.map((entry) => entry.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(list.data.find((entry) => entry.id === 'dall-e-3')?.imagegate.alias_of).toBe('gpt-image-1');
    expect(list.data.find((entry) => entry.id === 'house-fast')?.imagegate.alias_of).toBe('flux-schnell');
    expect(list.data.find((entry) => entry.id === 'gpt-image-1')?.imagegate.alias_of).toBeNull();
  });

  it("validates dall-e-3 requests with gpt-image-1's limits and says so in a header", async () => {
    const served = await generate({ model: 'dall-e-3', prompt: 'a wide harbour', size: '1536x1024' });
    expect(served.status).toBe(200);
    expect(served.headers.get('x-imagegate-warnings')).toContain('model dall-e-3 is served by gpt-image-1');
    await served.arrayBuffer();
    // A size only the real dall-e-3 takes is no longer allowed.
    expect(await expectBadParam(await generate({ model: 'dall-e-3', prompt: 'x', size: '1792x1024' }), 'size')).toContain('1536x1024');
  });
});
