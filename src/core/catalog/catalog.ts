// The model catalog at run time: the bundled file merged with config overrides, and name lookups.

import type { CatalogFile, CatalogModel } from './types.js';

export interface ResolvedModel {
  /** The catalog entry whose limits apply. */
  model: CatalogModel;
  /** The name the client sent (may be an alias). */
  requestedName: string;
}

export interface Catalog {
  readonly version: number;
  list(): CatalogModel[];
  get(name: string): ResolvedModel | undefined;
}

export interface CatalogOverrides {
  /** Entries that replace (by id, field by field) or add catalog models. */
  models?: Array<Partial<CatalogModel> & { id: string }>;
  /** Extra names that resolve to an existing model. */
  aliases?: Record<string, string>;
}

export function createCatalog(file: CatalogFile, overrides: CatalogOverrides = {}): Catalog {
  const byId = new Map<string, CatalogModel>();
  for (const model of file.models) byId.set(model.id, model);
  for (const override of overrides.models ?? []) {
    const base = byId.get(override.id);
    if (base) {
      byId.set(override.id, { ...base, ...override } as CatalogModel);
    } else {
      byId.set(override.id, assertComplete(override));
    }
  }
  const aliases = new Map<string, string>(Object.entries({ ...file.aliases, ...overrides.aliases }));
  for (const [alias, target] of aliases) {
    if (!byId.has(target)) throw new Error(`catalog alias '${alias}' points at unknown model '${target}'`);
  }
  const models = [...byId.values()];
  return {
    version: file.version,
    list: () => models,
    get(name) {
      const model = byId.get(name) ?? byId.get(aliases.get(name) ?? '');
      return model ? { model, requestedName: name } : undefined;
    },
  };
}

const requiredFields = ['owned_by', 'operations', 'prompt_max_length', 'max_n', 'sizes', 'backgrounds', 'output_formats', 'default_output_format', 'default_response_format'] as const;

function assertComplete(entry: Partial<CatalogModel> & { id: string }): CatalogModel {
  const missing = requiredFields.filter((field) => entry[field] === undefined);
  if (missing.length > 0) throw new Error(`catalog model '${entry.id}' is new and lacks: ${missing.join(', ')}`);
  return entry as CatalogModel;
}
