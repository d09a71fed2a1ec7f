// Response bodies of generations, edits and variations validated with ajv against `ImagesResponse`
// (and error bodies against `ErrorResponse`) from OpenAI's own OpenAPI document.

import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate, imagesBody, multipartForm, postForm, postJson, solidImage, type ApiResponse } from './images-api-helpers.js';

// The schemas reachable from ImagesResponse and ErrorResponse, copied verbatim from OpenAI's OpenAPI
// document (github.com/openai/openai-openapi, openapi.yaml) so the test needs nothing outside the repository.
const specPath = new URL('../fixtures/openai-images-schemas.json', import.meta.url);

interface OpenApiDocument {
  components: { schemas: Record<string, Record<string, unknown>> };
}

let gateway: TestGateway;
let client: OpenAI;
/** ImagesResponse exactly as the spec states it. */
let strictImagesResponse: ValidateFunction;
/** ImagesResponse with the one stale enum widened (see below). */
let imagesResponse: ValidateFunction;
let errorResponse: ValidateFunction;

beforeAll(async () => {
  const document = JSON.parse(readFileSync(specPath, 'utf8')) as OpenApiDocument;
  const schemas = document.components.schemas;
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; `strict: false` lets OpenAPI keywords (discriminator, x-*) through.
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // The spec's own format for unix timestamps.
  ajv.addFormat('unixtime', { type: 'number', validate: (value: number) => Number.isInteger(value) && value >= 0 });
  // The spec's `size` enum lists only 1024x1024, 1024x1536 and 1536x1024. It is stale for gpt-image-2,
  // whose sizes are free-form WxH (OpenAI's API reference for gpt-image-2; openai-node types `size` as any string).
  // Only that enum is widened, in a copy kept beside the original so its $refs resolve the same way;
  // every other field is checked as the spec states it.
  const original = schemas.ImagesResponse as { properties: Record<string, unknown> };
  schemas.ImagesResponseWithFreeSize = { ...original, properties: { ...original.properties, size: { type: 'string', pattern: '^[1-9][0-9]*x[1-9][0-9]*$' } } };
  ajv.addSchema({ $id: 'openai', components: document.components });
  strictImagesResponse = ajv.compile({ $ref: 'openai#/components/schemas/ImagesResponse' });
  imagesResponse = ajv.compile({ $ref: 'openai#/components/schemas/ImagesResponseWithFreeSize' });
  errorResponse = ajv.compile({ $ref: 'openai#/components/schemas/ErrorResponse' });

  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => gateway?.close());

const errorsOf = (validate: ValidateFunction): ErrorObject[] => validate.errors ?? [];

/** Validates a 200 body against the (widened) ImagesResponse and, when its size is one the spec lists, the strict one. */
function expectValidImagesResponse(response: ApiResponse, label: string): void {
  const body = imagesBody(response);
  expect(imagesResponse(body), `${label}: ${JSON.stringify(errorsOf(imagesResponse))}`).toBe(true);
  if (body.size === undefined || ['1024x1024', '1024x1536', '1536x1024'].includes(body.size)) {
    expect(strictImagesResponse(body), `${label}: ${JSON.stringify(errorsOf(strictImagesResponse))}`).toBe(true);
  }
  expect(body.data.length, label).toBeGreaterThan(0);
}

describe('generations match ImagesResponse', () => {
  it('for every catalog model that generates, with url and with b64_json', async () => {
    // Edit-only models (ideogram-v3-reframe …) answer generations with a 400 by design.
    for (const model of gateway.gateway.catalog.list().filter((entry) => entry.operations.includes('generate'))) {
      const size = model.id === 'dall-e-2' ? '256x256' : undefined;
      for (const responseFormat of ['url', 'b64_json']) {
        const response = await generate(gateway, { model: model.id, prompt: 'a schema check', size, response_format: responseFormat });
        expectValidImagesResponse(response, `${model.id} ${responseFormat}`);
      }
    }
  });

  it('for gpt-image-1 with every field the spec reports (background, output_format, quality, size)', async () => {
    const response = await generate(gateway, { model: 'gpt-image-1', prompt: 'x', background: 'transparent', output_format: 'webp', quality: 'medium', size: '1536x1024' });
    expectValidImagesResponse(response, 'gpt-image-1 full');
    const body = imagesBody(response);
    expect([body.background, body.output_format, body.quality, body.size]).toEqual(['transparent', 'webp', 'medium', '1536x1024']);
  });

  it('for dall-e-3 with revised_prompt, as an absolute URL (format uri)', async () => {
    const response = await generate(gateway, { model: 'dall-e-3', prompt: 'x', quality: 'hd', size: '1792x1024' });
    expectValidImagesResponse(response, 'dall-e-3');
    expect(imagesBody(response).data[0]?.revised_prompt).toBeTruthy();
  });

  it('gpt-image-2 free sizes fail the strict schema only on the stale size enum, and pass once it is widened', async () => {
    const response = await generate(gateway, { model: 'gpt-image-2', prompt: 'x', size: '3840x2160', output_format: 'jpeg' });
    const body = imagesBody(response);
    expect(body.size).toBe('3840x2160');
    expect(strictImagesResponse(body)).toBe(false);
    expect(errorsOf(strictImagesResponse).map((error) => `${error.instancePath} ${error.keyword}`)).toEqual(['/size enum']);
    expect(imagesResponse(body), JSON.stringify(errorsOf(imagesResponse))).toBe(true);
  });

  it('the widened schema still catches a wrong body', () => {
    expect(imagesResponse({ data: [] })).toBe(false);
    expect(imagesResponse({ created: 1, data: [{ url: 'relative/path.png' }] })).toBe(false);
    expect(imagesResponse({ created: 1, data: [], background: 'auto' })).toBe(false);
    expect(imagesResponse({ created: 1, data: [], size: 'big' })).toBe(false);
  });
});

describe('edits and variations match ImagesResponse', () => {
  it('an SDK multipart edit with image[] and a mask', async () => {
    const image = await solidImage(128, 128);
    const mask = await solidImage(128, 128, { alpha: 0 });
    const raw = await client.images
      .edit({ model: 'gpt-image-1', prompt: 'x', image: [await toFile(image, 'a.bin')], mask: await toFile(mask, 'm.bin'), n: 2 })
      .asResponse();
    const body = (await raw.json()) as unknown;
    expect(imagesResponse(body), JSON.stringify(errorsOf(imagesResponse))).toBe(true);
    expect(strictImagesResponse(body), JSON.stringify(errorsOf(strictImagesResponse))).toBe(true);
  });

  it('a JSON edit with a data URL, answered as a URL', async () => {
    const image = await solidImage(64, 64);
    const response = await postJson(gateway, '/v1/images/edits', {
      model: 'gpt-image-1.5', prompt: 'x', images: [{ image_url: `data:image/png;base64,${image.toString('base64')}` }], response_format: 'url',
    });
    expectValidImagesResponse(response, 'json edit');
  });

  it('dall-e-2 variations, as url and as b64_json', async () => {
    const square = await solidImage(64, 64, { channels: 3 });
    for (const responseFormat of ['url', 'b64_json']) {
      const response = await postForm(gateway, '/v1/images/variations', multipartForm({ size: '256x256', n: '2', response_format: responseFormat }, [{ field: 'image', data: square }]));
      expectValidImagesResponse(response, `variation ${responseFormat}`);
    }
  });
});

describe('errors match ErrorResponse', () => {
  it.each([
    ['a validation error', { model: 'dall-e-3', prompt: 'x', size: '1x1' }],
    ['an unknown model', { model: 'nope', prompt: 'x' }],
    ['a missing prompt', { model: 'gpt-image-1' }],
  ])('%s', async (_label, body) => {
    const response = await generate(gateway, body);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(errorResponse(response.body), JSON.stringify(errorsOf(errorResponse))).toBe(true);
  });

  it('wire-level errors too (bad JSON, 415, 401)', async () => {
    for (const response of [
      await generate(gateway, '{'),
      await generate(gateway, 'x', { 'content-type': 'text/plain' }),
      await generate(gateway, { prompt: 'x' }, { authorization: 'Bearer nope' }),
    ]) {
      expect(errorResponse(response.body), JSON.stringify(errorsOf(errorResponse))).toBe(true);
    }
  });
});
