// Fidelity of the Google fake: the official @google/genai SDK, pointed at it, gets what the real API gives.

import { ApiError, GoogleGenAI, Modality } from '@google/genai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeMain, googleFakeDefaultApiKey, startGoogleFake, type GoogleFake } from './google.js';

let fake: GoogleFake;
let client: GoogleGenAI;

beforeAll(async () => {
  // The fake's Imagen rules stay tested as they were before Google shut Imagen down on the Gemini API.
  fake = await startGoogleFake({ servesImagen: true });
  client = new GoogleGenAI({ apiKey: googleFakeDefaultApiKey, httpOptions: { baseUrl: fake.url} });
});
afterAll(() => fake.close());
afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

function imagePartOf(response: Awaited<ReturnType<GoogleGenAI['models']['generateContent']>>) {
  return response.candidates?.[0]?.content?.parts?.find((part) => part.inlineData !== undefined)?.inlineData;
}

describe('Gemini generateContent through @google/genai', () => {
  it('returns an image part at the requested aspect ratio and tier, with usage', async () => {
    const response = await client.models.generateContent({
      model: 'gemini-3-pro-image',
      contents: 'a watercolor fox',
      config: { responseModalities: [Modality.TEXT, Modality.IMAGE], imageConfig: { aspectRatio: '16:9', imageSize: '2K' } },
    });
    const image = imagePartOf(response);
    expect(image?.mimeType).toBe('image/png');
    const metadata = await sharp(Buffer.from(image?.data ?? '', 'base64')).metadata();
    expect([metadata.width, metadata.height]).toEqual([2752, 1536]);
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.usageMetadata?.candidatesTokenCount).toBe(1120);

    const sent = fake.requests.at(-1);
    expect(sent?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(sent?.headers['x-goog-api-key']).toBe(googleFakeDefaultApiKey);
  });

  it('answers 404 for the preview ids Google shut down on 2026-06-25', async () => {
    for (const model of ['gemini-3-pro-image-preview', 'gemini-3.1-flash-image-preview']) {
      const error = await client.models.generateContent({ model, contents: 'x' }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(404);
      expect((error as ApiError).message).toContain(`models/${model} is not found`);
    }
  });

  it('accepts an input image as inlineData for edits', async () => {
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer();
    const response = await client.models.generateContent({
      model: 'gemini-2.5-flash-image',
      contents: [{ role: 'user', parts: [{ text: 'make it red' }, { inlineData: { mimeType: 'image/png', data: input.toString('base64') } }] }],
      config: { responseModalities: [Modality.IMAGE] },
    });
    expect(imagePartOf(response)).toBeDefined();
    expect(response.usageMetadata?.promptTokensDetails?.some((detail) => detail.modality === 'IMAGE')).toBe(true);
  });

  it('renders prompt moderation as promptFeedback.blockReason and output moderation as finishReason IMAGE_SAFETY', async () => {
    fake.switches.moderation = 'input';
    const blocked = await client.models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'x' });
    expect(blocked.promptFeedback?.blockReason).toBe('PROHIBITED_CONTENT');
    expect(blocked.candidates).toBeUndefined();

    fake.switches.moderation = 'output';
    const filtered = await client.models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'x' });
    expect(filtered.candidates?.[0]?.finishReason).toBe('IMAGE_SAFETY');
    expect(imagePartOf(filtered)).toBeUndefined();
  });

  it('rejects an aspect ratio Gemini does not offer, and imageSize on a model without tiers', async () => {
    await expect(
      client.models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'x', config: { imageConfig: { aspectRatio: '7:3' } } }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      client.models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'x', config: { imageConfig: { imageSize: '2K' } } }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('Imagen predict through @google/genai', () => {
  it('returns sampleCount images of the requested aspect ratio', async () => {
    const response = await client.models.generateImages({
      model: 'imagen-4.0-generate-001',
      prompt: 'robot holding a red skateboard',
      config: { numberOfImages: 2, aspectRatio: '4:3', outputMimeType: 'image/jpeg' },
    });
    expect(response.generatedImages).toHaveLength(2);
    const first = response.generatedImages?.[0]?.image;
    expect(first?.mimeType).toBe('image/jpeg');
    const metadata = await sharp(Buffer.from(first?.imageBytes ?? '', 'base64')).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['jpeg', 1280, 896]);
    const sent = fake.requests.at(-1)?.json as { instances: unknown; parameters: Record<string, unknown> };
    expect(sent.instances).toEqual([{ prompt: 'robot holding a red skateboard' }]);
    expect(sent.parameters).toMatchObject({ sampleCount: 2, aspectRatio: '4:3', outputOptions: { mimeType: 'image/jpeg' } });
  });

  it('drops filtered images (fewer than asked), with RAI reasons when asked for them', async () => {
    fake.switches.maxImages = 1;
    const plain = await client.models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'p', config: { numberOfImages: 3 } });
    expect(plain.generatedImages).toHaveLength(1);
    const withReasons = await client.models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'p', config: { numberOfImages: 3, includeRaiReason: true } });
    expect(withReasons.generatedImages?.filter((image) => image.raiFilteredReason !== undefined)).toHaveLength(2);
  });

  it('rejects a 3:2 aspect ratio as Imagen does', async () => {
    await expect(client.models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'p', config: { aspectRatio: '3:2' } })).rejects.toMatchObject({
      status: 400,
    });
  });
});

describe('errors in Google’s shape', () => {
  it('answers a wrong key with 400 API_KEY_INVALID and a missing key with 403', async () => {
    const wrongKey = new GoogleGenAI({ apiKey: 'nope', httpOptions: { baseUrl: fake.url} });
    const error = await wrongKey.models.generateContent({ model: 'gemini-2.5-flash-image', contents: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).message).toContain('API_KEY_INVALID');

    const missing = await fetch(`${fake.url}/v1beta/models/imagen-4.0-generate-001:predict`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');
  });

  it('renders failStatus 429 as RESOURCE_EXHAUSTED with a RetryInfo delay', async () => {
    fake.switches.failStatus = 429;
    fake.switches.retryAfterSeconds = 7;
    const error = (await client.models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'p' }).catch((caught: unknown) => caught)) as ApiError;
    expect(error.status).toBe(429);
    expect(error.message).toContain('RESOURCE_EXHAUSTED');
    expect(error.message).toContain('"retryDelay":"7s"');
  });

  it('accepts the key as a query parameter too', async () => {
    const response = await fetch(`${fake.url}/v1beta/models/imagen-4.0-fast-generate-001:predict?key=${googleFakeDefaultApiKey}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [{ prompt: 'p' }], parameters: { sampleCount: 1 } }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
  });

  it('starts from fakeMain with the key and switches from the command line', async () => {
    const server = await fakeMain({ port: 0, apiKey: 'cli-key', switches: { failStatus: 503 } });
    try {
      const cli = new GoogleGenAI({ apiKey: 'cli-key', httpOptions: { baseUrl: server.url } });
      await expect(cli.models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'p' })).rejects.toMatchObject({ status: 503 });
    } finally {
      await server.close();
    }
  });
});
