// The model catalog at run time: the bundled file merged with config overrides, and name lookups.

import type { CatalogFile, CatalogModel } from './types.js';

export interface ResolvedModel {
  /** The catalog entry whose limits apply. */
  model: CatalogModel;
  /** The name the client sent (may be an alias). */
  requestedName: string;
}

export interface CatalogAlias {
  /** The name clients may send. */
  name: string;
  /** The model that serves it. */
  model: CatalogModel;
}

export interface Catalog {
  readonly version: number;
  list(): CatalogModel[];
  /** Every alias with the model it resolves to, for listings. */
  aliases(): CatalogAlias[];
  get(name: string): ResolvedModel | undefined;
}

export interface CatalogOverrides {
  /** Entries that replace (by id, field by field) or add catalog models. */
  models?: Array<Partial<CatalogModel> & { id: string }>;
  /**
   * Extra names that resolve to an existing model. An alias may take the name of a catalog model
   * (`dall-e-3: gpt-image-1`): that model is then replaced, and requests for it are served by the target.
   */
  aliases?: Record<string, string>;
}

/** A catalog (bundled or overridden) that cannot be used; the message names the entry and the field. */
export class CatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogError';
  }
}

export function createCatalog(file: CatalogFile, overrides: CatalogOverrides = {}): Catalog {
  const byId = new Map<string, CatalogModel>();
  // Fields a model may carry: the typed ones, plus any the bundled file uses, so data can grow ahead of this check.
  const knownFields = new Set<string>([...typedFields, ...file.models.flatMap((model) => Object.keys(model))]);
  for (const model of file.models) byId.set(model.id, checkModel(model, knownFields, 'catalog model'));
  for (const override of overrides.models ?? []) {
    const base = byId.get(override.id);
    const merged = base ? { ...base, ...override } : assertComplete(override);
    byId.set(override.id, checkModel(merged as CatalogModel, knownFields, base ? 'catalog override of' : 'new catalog model'));
  }
  const aliases = new Map<string, string>(Object.entries({ ...file.aliases, ...overrides.aliases }));
  for (const [alias, target] of aliases) {
    // One step only: a chain (or a loop) would make the served model depend on lookup order.
    if (aliases.has(target)) throw new CatalogError(`catalog alias '${alias}' points at '${target}', which is itself an alias; point it at a model`);
    if (typeof target !== 'string' || !byId.has(target)) {
      throw new CatalogError(`catalog alias '${alias}' points at unknown model '${String(target)}'; expected one of: ${[...byId.keys()].join(', ')}`);
    }
  }
  // An alias named like a model replaces that model (checked above: no alias targets it).
  for (const alias of aliases.keys()) byId.delete(alias);
  for (const model of byId.values()) checkSuccessor(model, byId);

  const models = [...byId.values()];
  const aliasList = [...aliases].map(([name, target]) => ({ name, model: byId.get(target) as CatalogModel }));
  return {
    version: file.version,
    list: () => models,
    aliases: () => aliasList,
    get(name) {
      const model = byId.get(aliases.get(name) ?? name);
      return model ? { model, requestedName: name } : undefined;
    },
  };
}

const requiredFields = ['owned_by', 'operations', 'prompt_max_length', 'max_n', 'sizes', 'backgrounds', 'output_formats', 'default_output_format', 'default_response_format'] as const;
const optionalFields = ['qualities', 'default_quality', 'quality_aliases', 'styles', 'default_style', 'moderation', 'revises_prompt', 'reports_output_details', 'streaming', 'edit', 'retired', 'shutdown_date'] as const;
const typedFields = ['id', ...requiredFields, ...optionalFields];

function assertComplete(entry: Partial<CatalogModel> & { id: string }): CatalogModel {
  const missing = requiredFields.filter((field) => entry[field] === undefined);
  if (missing.length > 0) throw new CatalogError(`catalog model '${entry.id}' is new and lacks: ${missing.join(', ')}`);
  return entry as CatalogModel;
}

const isPositiveInteger = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value > 0;
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string');

/**
 * Checks the fields the gateway validates requests with, so a typo in an override fails at start
 * instead of silently loosening (or breaking) validation of every request.
 */
function checkModel(model: CatalogModel, knownFields: ReadonlySet<string>, what: string): CatalogModel {
  const fail = (field: string, expected: string): never => {
    throw new CatalogError(`${what} '${model.id}': '${field}' must be ${expected}, got ${JSON.stringify((model as unknown as Record<string, unknown>)[field])}`);
  };
  for (const field of Object.keys(model)) {
    if (!knownFields.has(field)) throw new CatalogError(`${what} '${model.id}': unknown field '${field}'; known fields are: ${[...knownFields].join(', ')}`);
  }
  if (typeof model.id !== 'string' || model.id === '') fail('id', 'a non-empty string');
  if (typeof model.owned_by !== 'string') fail('owned_by', 'a string');
  if (!isStringList(model.operations) || !model.operations.every((item) => ['generate', 'edit', 'variation'].includes(item))) {
    fail('operations', 'a list of generate, edit, variation');
  }
  if (!isPositiveInteger(model.prompt_max_length)) fail('prompt_max_length', 'a positive whole number');
  if (!isPositiveInteger(model.max_n)) fail('max_n', 'a positive whole number');
  checkSizes(model, fail);
  if (!isStringList(model.backgrounds) || !model.backgrounds.every((item) => ['transparent', 'opaque', 'auto'].includes(item))) {
    fail('backgrounds', 'a list of transparent, opaque, auto');
  }
  if (!isStringList(model.output_formats) || !model.output_formats.every((item) => ['png', 'jpeg', 'webp', 'svg'].includes(item))) {
    fail('output_formats', 'a list of png, jpeg, webp, svg');
  }
  if (!model.output_formats.includes(model.default_output_format)) fail('default_output_format', `one of its output_formats (${model.output_formats.join(', ')})`);
  if (model.default_response_format !== 'url' && model.default_response_format !== 'b64_json') fail('default_response_format', 'url or b64_json');
  for (const [list, fallback] of [['qualities', 'default_quality'], ['styles', 'default_style']] as const) {
    const values = model[list];
    if (values !== undefined && !isStringList(values)) fail(list, 'a non-empty list of strings');
    const chosen = model[fallback];
    if (chosen !== undefined && !(values ?? []).includes(chosen)) fail(fallback, `one of its ${list} (${(values ?? []).join(', ')})`);
  }
  if (model.quality_aliases !== undefined) {
    const aliases = model.quality_aliases as unknown;
    const targets = [...(model.qualities ?? []), 'auto'];
    if (aliases === null || typeof aliases !== 'object' || Array.isArray(aliases) || !Object.values(aliases).every((target) => typeof target === 'string' && targets.includes(target))) {
      fail('quality_aliases', `a map of quality names to one of its qualities or auto (${targets.join(', ')})`);
    }
  }
  if (model.moderation !== undefined && !isStringList(model.moderation)) fail('moderation', 'a non-empty list of strings');
  for (const flag of ['revises_prompt', 'reports_output_details', 'streaming'] as const) {
    if (model[flag] !== undefined && typeof model[flag] !== 'boolean') fail(flag, 'true or false');
  }
  checkRetirement(model, what);
  if (model.edit !== undefined) {
    const edit = model.edit as unknown as Record<string, unknown> | null;
    if (edit === null || typeof edit !== 'object' || !isPositiveInteger(edit.max_images) || !isPositiveInteger(edit.max_image_bytes) || !isStringList(edit.formats)) {
      fail('edit', 'an object with max_images, max_image_bytes and formats');
    }
  }
  return model;
}

const isDate = (value: unknown): boolean => typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value));

function checkRetirement(model: CatalogModel, what: string): void {
  const fail = (expected: string): never => {
    throw new CatalogError(`${what} '${model.id}': 'retired' must be ${expected}, got ${JSON.stringify(model.retired)}`);
  };
  if (model.shutdown_date !== undefined && !isDate(model.shutdown_date)) {
    throw new CatalogError(`${what} '${model.id}': 'shutdown_date' must be a YYYY-MM-DD date, got ${JSON.stringify(model.shutdown_date)}`);
  }
  const retired = model.retired as unknown as Record<string, unknown> | null | undefined;
  if (retired === undefined) return;
  if (retired === null || typeof retired !== 'object') fail('an object with upstreams, shutdown, successor and source');
  const record = retired as Record<string, unknown>;
  const unknown = Object.keys(record).filter((field) => !['upstreams', 'shutdown', 'successor', 'source'].includes(field));
  if (unknown.length > 0) fail(`an object without ${unknown.join(', ')}`);
  if (!isStringList(record.upstreams)) fail('an object whose upstreams lists provider names');
  if (!isDate(record.shutdown)) fail('an object whose shutdown is a YYYY-MM-DD date');
  if (record.successor !== undefined && (typeof record.successor !== 'string' || record.successor === model.id)) fail('an object whose successor is another model');
  if (typeof record.source !== 'string' || record.source === '') fail('an object whose source says where the shutdown is published');
}

/** A successor must exist and still be served where its predecessor is not (one step, no chains). */
function checkSuccessor(model: CatalogModel, byId: ReadonlyMap<string, CatalogModel>): void {
  const successorId = model.retired?.successor;
  if (model.retired === undefined || successorId === undefined) return;
  const successor = byId.get(successorId);
  if (successor === undefined) throw new CatalogError(`catalog model '${model.id}': retired.successor '${successorId}' is not a catalog model`);
  const overlap = (successor.retired?.upstreams ?? []).filter((upstream) => model.retired?.upstreams.includes(upstream));
  if (overlap.length > 0) {
    throw new CatalogError(`catalog model '${model.id}': its successor '${successorId}' is retired on ${overlap.join(', ')} too; name a live successor`);
  }
}

function checkSizes(model: CatalogModel, fail: (field: string, expected: string) => never): void {
  const sizes = model.sizes as unknown as Record<string, unknown> | null;
  const isSize = (value: unknown) => typeof value === 'string' && /^\d+x\d+$/.test(value);
  if (sizes === null || typeof sizes !== 'object') {
    fail('sizes', 'an object with enum + default, rule + default, or aspect_ratios + default_aspect_ratio + megapixels');
    return;
  }
  if ('enum' in sizes) {
    if (!isStringList(sizes.enum) || !sizes.enum.every(isSize) || !sizes.enum.includes(sizes.default as string)) {
      fail('sizes', "'enum' (a list of WxH) and a 'default' from it");
    }
  } else if ('rule' in sizes) {
    const rule = sizes.rule as Record<string, unknown> | null;
    if (rule === null || typeof rule !== 'object' || !isPositiveInteger(rule.multiple_of) || !isSize(sizes.default)) {
      fail('sizes', "'rule' with a positive 'multiple_of' and a WxH 'default'");
    }
  } else if ('aspect_ratios' in sizes) {
    const ratios = sizes.aspect_ratios;
    if (
      !isStringList(ratios) ||
      !ratios.every((ratio) => /^\d+:\d+$/.test(ratio)) ||
      !ratios.includes(sizes.default_aspect_ratio as string) ||
      typeof sizes.megapixels !== 'number' ||
      !(sizes.megapixels > 0)
    ) {
      fail('sizes', "'aspect_ratios' (a list of W:H), a 'default_aspect_ratio' from it and positive 'megapixels'");
    }
  } else {
    fail('sizes', 'an object with enum + default, rule + default, or aspect_ratios + default_aspect_ratio + megapixels');
  }
}
