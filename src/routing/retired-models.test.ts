// Retired models on a channel, from catalog data only: successor mapping, the operator's own
// model_map, the relay opt-out, and the clear refusal when an upstream shut a model down for good.

import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { CatalogError, createCatalog } from '../core/catalog/catalog.js';
import type { CatalogModel } from '../core/catalog/types.js';
import type { ChannelRecord } from '../core/ports/channel-store.js';
import { applyRetirements, shutDownError } from './retired-models.js';

const file = readCatalogFile();
const catalog = createCatalog(file);

function channel(provider: string, models: string[], modelMap: Record<string, string> = {}, options: Record<string, unknown> = {}): ChannelRecord {
  return { name: 'c', provider, models, modelMap, options } as unknown as ChannelRecord;
}

/** What the registry's own step builds before retirements apply: each listed model under its mapped name. */
function servedOf(record: ChannelRecord): Map<string, string> {
  return new Map(record.models.map((id) => [id, record.modelMap[id] ?? id]));
}

describe('applyRetirements', () => {
  it('serves a retired model the channel lists from its successor, under the channel’s name for it', () => {
    const record = channel('azure', ['dall-e-3', 'gpt-image-2'], { 'gpt-image-2': 'my-gpt-image-2-deployment' });
    const served = servedOf(record);
    const retired = applyRetirements(record, catalog, served);
    expect(served.get('dall-e-3')).toBe('my-gpt-image-2-deployment');
    expect(retired.successors.get('dall-e-3')).toBe('gpt-image-2');
  });

  it('serves every retired name out of the box on a channel that lists only the successor', () => {
    const record = channel('openai', ['gpt-image-2']);
    const served = servedOf(record);
    applyRetirements(record, catalog, served);
    for (const id of ['dall-e-2', 'dall-e-3', 'gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest']) expect(served.get(id)).toBe('gpt-image-2');
  });

  it('leaves other providers, an explicit model_map and a relay that serves the old names alone', () => {
    const other = channel('fal', ['gpt-image-2']);
    const otherServed = servedOf(other);
    applyRetirements(other, catalog, otherServed);
    expect(otherServed.has('dall-e-3')).toBe(false);

    const mapped = channel('openai', ['dall-e-3'], { 'dall-e-3': 'gpt-image-2-2026-04-21' });
    const mappedServed = servedOf(mapped);
    expect(applyRetirements(mapped, catalog, mappedServed).successors.size).toBe(0);
    expect(mappedServed.get('dall-e-3')).toBe('gpt-image-2-2026-04-21');

    const relay = channel('openai', ['dall-e-3'], {}, { serves_retired_models: true });
    const relayServed = servedOf(relay);
    applyRetirements(relay, catalog, relayServed);
    expect(relayServed.get('dall-e-3')).toBe('dall-e-3');
  });

  it('keeps a model shut down without a successor listed, to be refused with a clear 404', () => {
    const gone = createCatalog(file, {
      models: [{ id: 'imagen-4.0-fast-generate-001', retired: { upstreams: ['google'], shutdown: '2026-08-17', source: 'https://ai.google.dev/gemini-api/docs/deprecations' } }],
    });
    const record = channel('google', ['imagen-4.0-fast-generate-001']);
    const served = servedOf(record);
    const retired = applyRetirements(record, gone, served);
    const retirement = retired.shutDown.get('imagen-4.0-fast-generate-001');
    expect(retirement?.shutdown).toBe('2026-08-17');
    const error = shutDownError(gone.get('imagen-4.0-fast-generate-001')?.model as CatalogModel, retirement!, ['c']);
    expect([error.status, error.code, error.param]).toEqual([404, 'model_not_found', 'model']);
    expect(error.message).toContain('was shut down by its upstream on 2026-08-17');
  });

  it('refuses a serves_retired_models that is not a boolean', () => {
    expect(() => applyRetirements(channel('openai', ['dall-e-3'], {}, { serves_retired_models: 'yes' }), catalog, new Map())).toThrow(/true or false/);
  });
});

describe('catalog retirement data', () => {
  it('every retired entry names a live catalog successor and a dated, sourced shutdown', () => {
    for (const model of catalog.list()) {
      if (model.retired === undefined) continue;
      expect(model.retired.source, model.id).toMatch(/^https:\/\//);
      expect(Date.parse(model.retired.shutdown), model.id).not.toBeNaN();
      if (model.retired.successor !== undefined) expect(catalog.get(model.retired.successor)?.model.retired, model.id).toBeUndefined();
    }
  });

  it('refuses an unknown successor, or one retired on the same upstream', () => {
    const retire = (id: string, successor: string) => ({ id, retired: { upstreams: ['openai'], shutdown: '2026-05-12', successor, source: 'https://example.com' } });
    expect(() => createCatalog(file, { models: [retire('dall-e-3', 'gpt-image-9')] })).toThrow(CatalogError);
    expect(() => createCatalog(file, { models: [retire('dall-e-3', 'gpt-image-1.5')] })).toThrow(/retired on openai too/);
  });
});
