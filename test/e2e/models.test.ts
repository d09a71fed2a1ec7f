// GET /v1/models and /v1/models/{id}: every catalog model, in OpenAI's model shape, with its
// capabilities (sizes or size rule, aspect ratios, max n, qualities, formats) under `imagegate`.

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { expectOpenAIError, readResponse } from './images-api-helpers.js';

let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => gateway.close());

interface ListedModel {
  id: string;
  object: string;
  created: number;
  owned_by: string;
  imagegate: {
    provider: string;
    endpoints: string[];
    prompt_max_length: number;
    max_n: number;
    sizes: { enum?: string[]; default?: string; rule?: Record<string, number>; aspect_ratios?: string[]; megapixels?: number };
    aspect_ratios: string[];
    qualities: string[] | null;
    styles: string[] | null;
    backgrounds: string[];
    output_formats: string[];
    default_response_format: string;
    edit: { max_images: number } | null;
  };
}

const get = async (path: string, authorization = `Bearer ${gateway.apiKey}`) =>
  readResponse(await fetch(`${gateway.url}${path}`, { headers: { authorization } }));

/** The models issue 2 requires in the catalog. */
const requiredModels = [
  'dall-e-2', 'dall-e-3', 'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'gpt-image-2', 'sora_image',
  'flux-kontext-pro', 'flux-kontext-max', 'flux-1.1-pro', 'flux-1.1-pro-ultra', 'flux-dev', 'flux-schnell',
];

describe('GET /v1/models', () => {
  it('lists every catalog model with its capabilities under imagegate', async () => {
    const response = await get('/v1/models');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    const body = response.body as { object: string; data: ListedModel[] };
    expect(body.object).toBe('list');
    const ids = body.data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(requiredModels));
    expect(ids).toEqual(expect.arrayContaining(gateway.gateway.catalog.list().map((model) => model.id)));
    for (const model of body.data) {
      expect(model.object, model.id).toBe('model');
      expect(typeof model.created, model.id).toBe('number');
      expect(model.owned_by, model.id).toBeTruthy();
      const capabilities = model.imagegate;
      expect(capabilities.endpoints.length, model.id).toBeGreaterThan(0);
      expect(capabilities.max_n, model.id).toBeGreaterThanOrEqual(1);
      expect(capabilities.prompt_max_length, model.id).toBeGreaterThan(0);
      expect(capabilities.output_formats.length, model.id).toBeGreaterThan(0);
      expect(capabilities.aspect_ratios.length, model.id).toBeGreaterThan(0);
      expect(['url', 'b64_json'], model.id).toContain(capabilities.default_response_format);
      // One of the three ways a catalog states sizes.
      const sizes = capabilities.sizes;
      expect(Boolean(sizes.enum) || Boolean(sizes.rule) || Boolean(sizes.aspect_ratios), model.id).toBe(true);
    }
  });

  it('states each family’s limits as the spec does', async () => {
    const body = (await get('/v1/models')).body as { data: ListedModel[] };
    const byId = new Map(body.data.map((model) => [model.id, model.imagegate]));
    const dallE2 = byId.get('dall-e-2');
    expect(dallE2?.sizes.enum).toEqual(['256x256', '512x512', '1024x1024']);
    expect(dallE2?.endpoints).toEqual(expect.arrayContaining(['generate', 'edit', 'variation']));
    expect(dallE2?.prompt_max_length).toBe(1000);
    expect(dallE2?.edit?.max_images).toBe(1);
    const dallE3 = byId.get('dall-e-3');
    expect(dallE3?.max_n).toBe(1);
    expect(dallE3?.sizes.enum).toEqual(['1024x1024', '1792x1024', '1024x1792']);
    expect(dallE3?.qualities).toEqual(['standard', 'hd']);
    expect(dallE3?.styles).toEqual(['vivid', 'natural']);
    expect(dallE3?.edit).toBeNull();
    const gptImage1 = byId.get('gpt-image-1');
    expect(gptImage1?.backgrounds).toContain('transparent');
    expect(gptImage1?.default_response_format).toBe('b64_json');
    expect(gptImage1?.edit?.max_images).toBe(16);
    expect(gptImage1?.prompt_max_length).toBe(32000);
    const gptImage2 = byId.get('gpt-image-2');
    expect(gptImage2?.sizes.rule).toMatchObject({ multiple_of: 16, max_edge: 3840, max_ratio: 3 });
    const kontext = byId.get('flux-kontext-pro');
    expect(kontext?.sizes.aspect_ratios).toEqual(expect.arrayContaining(['21:9', '16:9', '1:1', '9:21']));
    expect(kontext?.aspect_ratios).toContain('21:9');
    expect(kontext?.default_response_format).toBe('url');
    expect(byId.get('flux-1.1-pro')?.sizes.default).toBe('1024x768');
    expect(byId.get('sora_image')?.default_response_format).toBe('url');
  });

  it('the SDK lists and retrieves models', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(requiredModels));
    const retrieved = await client.models.retrieve('gpt-image-2');
    expect(retrieved.id).toBe('gpt-image-2');
    expect(retrieved.object).toBe('model');
  });

  it('needs a key', async () => {
    expectOpenAIError(await get('/v1/models', ''), { status: 401, code: 'invalid_api_key' });
  });
});

describe('GET /v1/models/{id}', () => {
  it('returns the same entry as the listing', async () => {
    const listing = (await get('/v1/models')).body as { data: ListedModel[] };
    for (const id of ['dall-e-3', 'gpt-image-2', 'flux-kontext-pro']) {
      const response = await get(`/v1/models/${id}`);
      expect(response.status).toBe(200);
      expect(response.body).toEqual(listing.data.find((model) => model.id === id));
    }
  });

  it('resolves an alias to the model that serves it', async () => {
    const response = await get('/v1/models/flux-pro-1.1');
    expect(response.status).toBe(200);
    expect((response.body as ListedModel).imagegate.sizes.default).toBe('1024x768');
  });

  it('an unknown id is a 404 model_not_found in OpenAI’s shape', async () => {
    expectOpenAIError(await get('/v1/models/dall-e-9'), { status: 404, code: 'model_not_found', param: 'model', mentions: ['dall-e-9'] });
    const error = await client.models.retrieve('dall-e-9').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
