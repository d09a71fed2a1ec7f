// createCatalog: the bundled catalog, overrides field by field, new models, and aliases (including
// one that takes over a model's name).

import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../../config/catalog-file.js';
import { CatalogError, createCatalog, type CatalogOverrides } from './catalog.js';
import type { CatalogModel } from './types.js';

const bundled = readCatalogFile();

const newModel: CatalogModel = {
  id: 'house-model',
  owned_by: 'us',
  operations: ['generate'],
  prompt_max_length: 500,
  max_n: 2,
  sizes: { enum: ['512x512'], default: '512x512' },
  backgrounds: ['opaque', 'auto'],
  output_formats: ['png'],
  default_output_format: 'png',
  default_response_format: 'url',
};

function catalogErrorOf(overrides: CatalogOverrides): CatalogError {
  try {
    createCatalog(bundled, overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return error as CatalogError;
  }
  throw new Error('expected a CatalogError, but the catalog was built');
}

describe('the bundled catalog', () => {
  it('holds every model the issue names, each passing the catalog checks', () => {
    const catalog = createCatalog(bundled);
    expect(catalog.list().map((model) => model.id)).toEqual(
      expect.arrayContaining([
        'dall-e-2',
        'dall-e-3',
        'gpt-image-1',
        'gpt-image-1-mini',
        'gpt-image-1.5',
        'gpt-image-2',
        'sora_image',
        'flux-kontext-pro',
        'flux-kontext-max',
        'flux-1.1-pro',
        'flux-1.1-pro-ultra',
        'flux-dev',
        'flux-schnell',
      ]),
    );
  });

  it('answers OpenAI default response formats: url for dall-e, flux and sora, b64_json for gpt-image', () => {
    const catalog = createCatalog(bundled);
    const formatOf = (id: string) => catalog.get(id)?.model.default_response_format;
    expect(['dall-e-2', 'dall-e-3', 'flux-dev', 'sora_image'].map(formatOf)).toEqual(['url', 'url', 'url', 'url']);
    expect(['gpt-image-1', 'gpt-image-1-mini', 'gpt-image-2'].map(formatOf)).toEqual(['b64_json', 'b64_json', 'b64_json']);
  });

  it('resolves a bundled alias to its model and keeps the name the client sent', () => {
    const resolved = createCatalog(bundled).get('flux-pro-1.1');
    expect(resolved?.model.id).toBe('flux-1.1-pro');
    expect(resolved?.requestedName).toBe('flux-pro-1.1');
  });

  it('answers undefined for an unknown name', () => {
    expect(createCatalog(bundled).get('dall-e-4')).toBeUndefined();
  });
});

describe('overrides', () => {
  it('changes one limit of a model and keeps every other field', () => {
    const catalog = createCatalog(bundled, { models: [{ id: 'dall-e-3', prompt_max_length: 100, max_n: 2 }] });
    const model = catalog.get('dall-e-3')?.model;
    expect(model?.prompt_max_length).toBe(100);
    expect(model?.max_n).toBe(2);
    expect(model?.sizes).toEqual(createCatalog(bundled).get('dall-e-3')?.model.sizes);
    expect(catalog.list()).toHaveLength(bundled.models.length);
  });

  it('adds a new, complete model', () => {
    const catalog = createCatalog(bundled, { models: [newModel] });
    expect(catalog.get('house-model')?.model).toEqual(newModel);
    expect(catalog.list()).toHaveLength(bundled.models.length + 1);
  });

  it('rejects a new model missing required fields, listing them', () => {
    const error = catalogErrorOf({ models: [{ id: 'half-model', owned_by: 'us', max_n: 1 }] });
    expect(error.message).toBe(
      "catalog model 'half-model' is new and lacks: operations, prompt_max_length, sizes, backgrounds, output_formats, default_output_format, default_response_format",
    );
  });

  it.each([
    [{ id: 'dall-e-3', max_n: 'five' }, "'max_n' must be a positive whole number"],
    [{ id: 'dall-e-3', max_n: 0 }, "'max_n' must be a positive whole number"],
    [{ id: 'dall-e-3', prompt_max_length: -1 }, "'prompt_max_length' must be a positive whole number"],
    [{ id: 'dall-e-3', operations: ['paint'] }, "'operations' must be a list of generate, edit, variation"],
    [{ id: 'dall-e-3', output_formats: ['gif'] }, "'output_formats' must be a list of png, jpeg, webp"],
    [{ id: 'dall-e-3', default_output_format: 'gif' }, "'default_output_format' must be one of its output_formats"],
    [{ id: 'dall-e-3', default_response_format: 'base64' }, "'default_response_format' must be url or b64_json"],
    [{ id: 'dall-e-3', default_quality: 'ultra' }, "'default_quality' must be one of its qualities (standard, hd)"],
    [{ id: 'dall-e-3', sizes: { enum: ['1024x1024'], default: '512x512' } }, "'sizes' must be 'enum' (a list of WxH) and a 'default' from it"],
    [{ id: 'dall-e-3', sizes: { rule: { multiple_of: 0 }, default: '1024x1024' } }, "'sizes' must be 'rule' with a positive 'multiple_of'"],
  ])('rejects an override with a wrong value: %j', (override, message) => {
    const error = catalogErrorOf({ models: [override as unknown as { id: string }] });
    expect(error.message).toContain("catalog override of 'dall-e-3'");
    expect(error.message).toContain(message);
  });

  it('rejects a misspelt field instead of ignoring it', () => {
    const error = catalogErrorOf({ models: [{ id: 'dall-e-3', maxn: 2 } as never] });
    expect(error.message).toMatch(/^catalog override of 'dall-e-3': unknown field 'maxn'; known fields are: .*max_n/);
  });
});

describe('aliases', () => {
  it('adds an alias from config, listed with the model behind it', () => {
    const catalog = createCatalog(bundled, { aliases: { 'house-fast': 'flux-schnell' } });
    expect(catalog.get('house-fast')?.model.id).toBe('flux-schnell');
    expect(catalog.aliases()).toContainEqual({ name: 'house-fast', model: catalog.get('flux-schnell')?.model });
  });

  it('serves dall-e-3 with another model when an alias takes its name', () => {
    const catalog = createCatalog(bundled, { aliases: { 'dall-e-3': 'gpt-image-1' } });
    const resolved = catalog.get('dall-e-3');
    expect(resolved?.model.id).toBe('gpt-image-1');
    expect(resolved?.requestedName).toBe('dall-e-3');
    // The replaced model is gone: nothing can reach its limits any more.
    expect(catalog.list().map((model) => model.id)).not.toContain('dall-e-3');
  });

  it('rejects an alias to an unknown model, listing the models', () => {
    const error = catalogErrorOf({ aliases: { 'house-model': 'dall-e-9' } });
    expect(error.message).toMatch(/^catalog alias 'house-model' points at unknown model 'dall-e-9'; expected one of: dall-e-2, dall-e-3, /);
  });

  it('rejects an alias that points at another alias', () => {
    const error = catalogErrorOf({ aliases: { 'house-model': 'flux-pro-1.1' } });
    expect(error.message).toBe("catalog alias 'house-model' points at 'flux-pro-1.1', which is itself an alias; point it at a model");
  });

  it('rejects two models aliased to each other', () => {
    expect(catalogErrorOf({ aliases: { 'dall-e-2': 'dall-e-3', 'dall-e-3': 'dall-e-2' } }).message).toContain('which is itself an alias');
  });

  it('lets an alias point at a model added by the same overrides', () => {
    const catalog = createCatalog(bundled, { models: [newModel], aliases: { 'dall-e-3': 'house-model' } });
    expect(catalog.get('dall-e-3')?.model.id).toBe('house-model');
  });
});
