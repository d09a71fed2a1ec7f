import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from './catalog/catalog.js';
import type { DeliveredImage } from './generate-images.js';
import { encodeImagesResponse, encodeImagesResponseParts, renderImagesResponse } from './images-response.js';

const catalog = createCatalog(readCatalogFile());
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(5000, 9)]);

function request(modelId: string, responseFormat: 'url' | 'b64_json') {
  const model = catalog.list().find((candidate) => candidate.id === modelId);
  if (!model) throw new Error(`no ${modelId} in the catalog`);
  return { responseFormat, model, background: 'auto' as const, outputFormat: 'png' as const, quality: 'high', size: { width: 1024, height: 1024 } };
}

describe('encodeImagesResponse', () => {
  it('sends the same JSON as renderImagesResponse, with base64 text spliced in as it arrived', () => {
    const relayed: DeliveredImage = {
      get data(): Buffer {
        throw new Error('relayed base64 must not be decoded');
      },
      base64: [Buffer.from(png.toString('base64'))],
      revisedPrompt: 'a "b64_json":"\u0000image:1" prompt, ünïcode',
    };
    const encoded: DeliveredImage = { data: png };
    const outcome = {
      images: [relayed, encoded],
      createdAt: 1_700_000_000,
      usage: { inputTokens: 10, outputTokens: 20, inputTextTokens: 10, inputImageTokens: 0 },
    };
    const bytes = encodeImagesResponse(outcome, request('gpt-image-1', 'b64_json'), () => 'unused');
    const parsed = JSON.parse(bytes.toString('utf8')) as { data: Array<{ b64_json: string; revised_prompt?: string }>; size: string };
    expect(parsed).toEqual(renderImagesResponse(outcome, request('gpt-image-1', 'b64_json'), () => 'unused'));
    expect(Buffer.from(parsed.data[0]?.b64_json ?? '', 'base64').equals(png)).toBe(true);
    expect(Buffer.from(parsed.data[1]?.b64_json ?? '', 'base64').equals(png)).toBe(true);
    expect(parsed.data[0]?.revised_prompt).toBe(relayed.revisedPrompt);
    expect(parsed.size).toBe('1024x1024');
  });

  it('renders url answers and bodies without images as plain JSON', () => {
    const outcome = { images: [{ data: png, blobKey: 'images/a.png' }], createdAt: 1 };
    const bytes = encodeImagesResponse(outcome, request('dall-e-2', 'url'), (key) => `https://gateway.example/v1/files/${key}`);
    expect(JSON.parse(bytes.toString('utf8'))).toEqual({ created: 1, data: [{ url: 'https://gateway.example/v1/files/images/a.png' }] });
  });

  it('gives the same bytes as pieces, relayed base64 as the very buffers it arrived in', () => {
    const text = png.toString('base64');
    // The text in the pieces it arrived in (two received chunks).
    const base64: Buffer[] = [Buffer.from(text.slice(0, 1000)), Buffer.from(text.slice(1000))];
    const relayed: DeliveredImage = {
      get data(): Buffer {
        throw new Error('relayed base64 must not be decoded');
      },
      base64,
    };
    const outcome = { images: [relayed, { data: png }], createdAt: 1_700_000_000 };
    const parts = encodeImagesResponseParts(outcome, request('gpt-image-1', 'b64_json'), () => 'unused');
    expect(parts.filter((part) => base64.includes(part))).toHaveLength(2);
    expect(Buffer.concat(parts).equals(encodeImagesResponse(outcome, request('gpt-image-1', 'b64_json'), () => 'unused'))).toBe(true);
    expect(JSON.parse(Buffer.concat(parts).toString('utf8'))).toEqual(renderImagesResponse(outcome, request('gpt-image-1', 'b64_json'), () => 'unused'));
  });
});
