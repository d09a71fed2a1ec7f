// Request validation against the bundled catalog: defaults per model and operation, null as
// "use the default", every refusal naming its param, and every mapping reported as a warning.

import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from './catalog/catalog.js';
import { GatewayError } from './errors.js';
import { parseImageRequest, resolveModel, type RawImageRequest } from './image-request.js';
import type { Operation } from './catalog/types.js';

const catalog = createCatalog(readCatalogFile());
const parse = (body: RawImageRequest, operation: Operation = 'generate') => parseImageRequest(catalog, operation, body);

function rejection(body: RawImageRequest, operation: Operation = 'generate'): GatewayError {
  try {
    parse(body, operation);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be refused`);
}

describe('models and defaults', () => {
  it('generations default to dall-e-2, edits to gpt-image-1.5, variations to dall-e-2 (as the spec)', () => {
    expect(parse({ prompt: 'x' }).model.id).toBe('dall-e-2');
    expect(parse({ prompt: 'x' }, 'edit').model.id).toBe('gpt-image-1.5');
    expect(parse({}, 'variation').model.id).toBe('dall-e-2');
  });

  it('resolves each family’s defaults from the catalog', () => {
    const dallE3 = parse({ model: 'dall-e-3', prompt: 'x' });
    expect([dallE3.n, dallE3.quality, dallE3.style, dallE3.responseFormat, dallE3.outputFormat, dallE3.background]).toEqual([1, 'standard', 'vivid', 'url', 'png', 'auto']);
    expect(dallE3.size).toEqual({ width: 1024, height: 1024 });
    const gptImage = parse({ model: 'gpt-image-1', prompt: 'x' });
    // OpenAI's default quality is `auto` (ImageGenerateParams.quality: "`auto` (default value)").
    expect([gptImage.quality, gptImage.responseFormat]).toEqual(['auto', 'b64_json']);
    const flux = parse({ model: 'flux-1.1-pro', prompt: 'x' });
    expect([flux.outputFormat, flux.responseFormat, flux.quality, flux.style]).toEqual(['jpeg', 'url', undefined, undefined]);
    expect(flux.size).toEqual({ width: 1024, height: 768 });
    expect(parse({ model: 'sora_image', prompt: 'x' }).responseFormat).toBe('url');
  });

  it('null fields mean the default', () => {
    const request = parse({
      model: null, prompt: 'x', n: null, size: null, quality: null, style: null, response_format: null, output_format: null,
      output_compression: null, background: null, moderation: null, seed: null, user: null, stream: null, partial_images: null, aspect_ratio: null,
    });
    const defaults = parse({ prompt: 'x' });
    expect({ ...request, warnings: [] }).toEqual({ ...defaults, warnings: [] });
    // A null is a default, not an unknown field passed to the provider.
    expect(request.providerOptions).toEqual({});
  });

  it('an alias is served by its model and says so', () => {
    const request = parse({ model: 'flux-pro-1.1', prompt: 'x' });
    expect([request.model.id, request.requestedModel]).toEqual(['flux-1.1-pro', 'flux-pro-1.1']);
    expect(request.warnings).toContain('model flux-pro-1.1 is served by flux-1.1-pro');
  });

  it('an unknown model is a 404 model_not_found naming model', () => {
    const error = rejection({ model: 'dall-e-4', prompt: 'x' });
    expect([error.status, error.code, error.param]).toEqual([404, 'model_not_found', 'model']);
  });

  it('an operation the model lacks is a 400 listing the models that have it', () => {
    try {
      resolveModel(catalog, 'variation', { model: 'gpt-image-1' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(GatewayError);
      const gatewayError = error as GatewayError;
      expect([gatewayError.status, gatewayError.param]).toEqual([400, 'model']);
      expect(gatewayError.message).toContain('dall-e-2');
    }
    expect(rejection({ model: 'dall-e-3', prompt: 'x' }, 'edit').message).toContain('gpt-image-1');
  });
});

describe('refusals name the param and what is allowed', () => {
  it.each([
    [{ model: 'dall-e-3', prompt: 'x', n: 2 }, 'n', 'It must be 1.'],
    [{ prompt: 'x', n: 0 }, 'n', 'between 1 and 10'],
    [{ prompt: 'x', n: '3' }, 'n', 'between 1 and 10'],
    [{ prompt: 'x', quality: 'hd' }, 'quality', "'standard', and 'auto'"],
    [{ model: 'dall-e-3', prompt: 'x', style: 'pop' }, 'style', "'vivid', and 'natural'"],
    [{ model: 'gpt-image-1', prompt: 'x', background: 'none' }, 'background', "'transparent', 'opaque', and 'auto'"],
    [{ prompt: 'x', background: 'transparent' }, 'background', "'opaque', and 'auto'"],
    [{ prompt: 'x', output_format: 'bmp' }, 'output_format', "'png', 'jpeg', and 'webp'"],
    [{ model: 'gpt-image-1', prompt: 'x', moderation: 'off' }, 'moderation', "'low', and 'auto'"],
    [{ prompt: 'x', response_format: 'file' }, 'response_format', "'url', and 'b64_json'"],
    [{ model: 'gpt-image-1', prompt: 'x', background: 'transparent', output_format: 'jpeg' }, 'background', "'png' or 'webp'"],
    [{ model: 'gpt-image-1', prompt: 'x', output_compression: 101 }, 'output_compression', 'between 0 and 100'],
    [{ model: 'gpt-image-1', prompt: 'x', partial_images: 4 }, 'partial_images', 'between 0 and 3'],
    [{ prompt: 'x', seed: 1.5 }, 'seed', 'integer'],
    [{ prompt: 'x', stream: 'true' }, 'stream', 'boolean'],
    [{ prompt: 'x', user: 12 }, 'user', 'string'],
    [{ model: 'dall-e-2', prompt: 'a'.repeat(1001) }, 'prompt', '1000'],
    [{ model: 'dall-e-3', prompt: 'a'.repeat(4001) }, 'prompt', '4000'],
    [{ model: 'gpt-image-2', prompt: 'a'.repeat(32001) }, 'prompt', '32000'],
    [{ prompt: '' }, 'prompt', 'empty'],
    [{ model: 'gpt-image-1', prompt: 'x', input_fidelity: 'max' }, 'input_fidelity', "'high', and 'low'"],
  ] as Array<[RawImageRequest, string, string]>)('%j → 400 on %s', (body, param, allowed) => {
    const operation: Operation = 'input_fidelity' in body ? 'edit' : 'generate';
    const error = rejection(body, operation);
    expect([error.status, error.code, error.param]).toEqual([400, 'invalid_value', param]);
    expect(error.message).toContain(allowed);
  });

  it('a missing prompt is missing_required_parameter, except for variations', () => {
    const error = rejection({ model: 'gpt-image-1' });
    expect([error.code, error.param]).toEqual(['missing_required_parameter', 'prompt']);
    expect(parse({ model: 'dall-e-2' }, 'variation').prompt).toBe('');
  });

  it('prompts exactly at the limit pass', () => {
    expect(parse({ model: 'dall-e-2', prompt: 'a'.repeat(1000) }).prompt).toHaveLength(1000);
  });

  it('variations cannot be streamed', () => {
    expect(rejection({ stream: true }, 'variation').param).toBe('stream');
  });
});

describe('mappings and pass-through, each reported', () => {
  it('unknown fields become provider options, named in a warning; gateway control fields do not', () => {
    const request = parse({ model: 'flux-1.1-pro', prompt: 'x', guidance: 3, raw: true, async: true, callback_url: 'https://example.test/hook' });
    expect(request.providerOptions).toEqual({ guidance: 3, raw: true });
    expect(request.warnings).toContain('passed to the provider as-is: guidance, raw');
  });

  it('quality and style on a model without them are ignored with a warning', () => {
    const request = parse({ model: 'flux-dev', prompt: 'x', quality: 'hd', style: 'vivid', moderation: 'low' });
    expect([request.quality, request.style, request.moderation]).toEqual([undefined, undefined, undefined]);
    expect(request.warnings).toEqual(
      expect.arrayContaining([
        'quality is not supported by flux-dev; ignored',
        'style is not supported by flux-dev; ignored',
        'moderation is not supported by flux-dev; ignored',
      ]),
    );
  });

  // Issue 10 item 6: `auto` is sent as `auto` (OpenAI's own default), never turned into `high`.
  it('quality auto, asked or omitted, stays auto for gpt-image models, without a warning', () => {
    for (const body of [{ model: 'gpt-image-2', prompt: 'x', quality: 'auto' }, { model: 'gpt-image-2', prompt: 'x' }, { model: 'gpt-image-1', prompt: 'x' }]) {
      const request = parse(body);
      expect(request.quality).toBe('auto');
      expect(request.warnings).toEqual([]);
    }
  });

  it('jpg is spelled jpeg, and said so', () => {
    const request = parse({ model: 'gpt-image-1', prompt: 'x', output_format: 'jpg' });
    expect(request.outputFormat).toBe('jpeg');
    expect(request.warnings).toContain('output_format jpg is spelled jpeg');
  });

  it('output_compression is kept for jpeg/webp and dropped with a warning for png', () => {
    expect(parse({ model: 'gpt-image-1', prompt: 'x', output_format: 'webp', output_compression: 30 }).outputCompression).toBe(30);
    const png = parse({ model: 'gpt-image-1', prompt: 'x', output_compression: 30 });
    expect(png.outputCompression).toBeUndefined();
    expect(png.warnings).toContain('output_compression applies to jpeg and webp only; ignored for png');
  });

  it('aspect_ratio resolves through the size rules, with its mapping in the warnings', () => {
    const request = parse({ model: 'dall-e-3', prompt: 'x', aspect_ratio: '16:9' });
    expect(request.size).toEqual({ width: 1792, height: 1024 });
    expect(request.warnings).toContain('aspect_ratio 16:9 resolved to size 1792x1024');
  });

  it('input_fidelity is kept on edits that support it and ignored (with a warning) elsewhere', () => {
    expect(parse({ model: 'gpt-image-1', prompt: 'x', input_fidelity: 'high' }, 'edit').inputFidelity).toBe('high');
    const onGenerate = parse({ model: 'gpt-image-1', prompt: 'x', input_fidelity: 'high' });
    expect(onGenerate.inputFidelity).toBeUndefined();
    expect(onGenerate.warnings).toContain('input_fidelity applies to edits only; ignored');
    const unsupported = parse({ model: 'gpt-image-2', prompt: 'x', input_fidelity: 'high' }, 'edit');
    expect(unsupported.inputFidelity).toBeUndefined();
    expect(unsupported.warnings).toContain('input_fidelity is not supported by gpt-image-2; ignored');
  });

  it('stream and partial_images are accepted', () => {
    const request = parse({ model: 'gpt-image-1', prompt: 'x', stream: true, partial_images: 2 });
    expect([request.stream, request.partialImages]).toEqual([true, 2]);
  });
});

describe('image sets (sequential_image_generation "auto")', () => {
  const seedream = { model: 'doubao-seedream-4-0-250828', prompt: 'four seasons' };

  it('sizes n by max_images (Ark’s default 15), takes the options as JSON text from a form, and keeps the fields for the provider', () => {
    const set = parse({ ...seedream, sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 4 } });
    expect([set.n, set.imageSet]).toEqual([4, true]);
    expect(set.providerOptions).toEqual({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 4 } });
    expect(parse({ ...seedream, sequential_image_generation: 'auto' }).n).toBe(15);
    expect(parse({ ...seedream, sequential_image_generation: 'auto', sequential_image_generation_options: '{"max_images": 6}' }).n).toBe(6);
    expect(parse({ ...seedream, n: 1, sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 2 } }).n).toBe(2);
    const plain = parse({ ...seedream, n: 3, sequential_image_generation: 'disabled' });
    expect([plain.n, plain.imageSet]).toEqual([3, undefined]);
  });

  it('refuses n > 1 with a set, max_images outside [1, 15], and an unknown mode, each naming its param', () => {
    const refusal = (body: RawImageRequest) => {
      try {
        parse({ ...seedream, ...body });
      } catch (error) {
        return error instanceof GatewayError ? [error.code, error.param] : [String(error)];
      }
      return ['accepted'];
    };
    expect(refusal({ n: 2, sequential_image_generation: 'auto' })).toEqual(['invalid_value', 'n']);
    expect(refusal({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 0 } })).toEqual(['invalid_value', 'sequential_image_generation_options.max_images']);
    expect(refusal({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 16 } })).toEqual(['invalid_value', 'sequential_image_generation_options.max_images']);
    expect(refusal({ sequential_image_generation: 'auto', sequential_image_generation_options: [4] })).toEqual(['invalid_value', 'sequential_image_generation_options']);
    expect(refusal({ sequential_image_generation: 'always' })).toEqual(['invalid_value', 'sequential_image_generation']);
  });
});
