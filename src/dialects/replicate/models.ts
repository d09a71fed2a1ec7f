// Replicate's model names and input schemas for the models the gateway serves, and how a prediction's
// `input` becomes the gateway's request. Schemas from shared/specs/providers/replicate.md, which quotes
// each model's API page on replicate.com (black-forest-labs/flux-schnell, flux-dev, flux-1.1-pro,
// flux-kontext-pro …, "[D via model API page]").

import { GatewayError } from '../../core/errors.js';
import type { RawImageRequest } from '../../core/image-request.js';

/** The FLUX family's `aspect_ratio` enum on Replicate: "1:1,16:9,21:9,3:2,2:3,4:5,5:4,3:4,4:3,9:16,9:21 (def 1:1)". */
const fluxRatios = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'];

type FieldRule =
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'string' };

export interface ReplicateModelSchema {
  /** The gateway catalogue id that serves it. */
  catalogId: string;
  /** true: `output` is a list of URLs (models with `num_outputs`); false: one URL string. */
  listOutput: boolean;
  defaultOutputFormat: 'webp' | 'jpg' | 'png';
  defaultAspectRatio?: string;
  /** Inputs whose type and range Replicate checks (422 otherwise); other inputs pass through. */
  fields: Record<string, FieldRule>;
  /** The input naming the image to edit, for models that take one. */
  imageInput?: string;
}

const integer = (min: number, max: number): FieldRule => ({ kind: 'integer', min, max });
const number = (min: number, max: number): FieldRule => ({ kind: 'number', min, max });
const boolean: FieldRule = { kind: 'boolean' };
const oneOf = (...values: string[]): FieldRule => ({ kind: 'enum', values });

const schnellFields: Record<string, FieldRule> = {
  // flux-schnell: "num_outputs 1–4; num_inference_steps 1–4 (def 4); output_format webp|jpg|png (def webp);
  // output_quality 0–100 (def 80); disable_safety_checker; go_fast; megapixels "1"|"0.25"".
  aspect_ratio: oneOf(...fluxRatios),
  num_outputs: integer(1, 4),
  num_inference_steps: integer(1, 4),
  seed: integer(0, 4_294_967_295),
  output_format: oneOf('webp', 'jpg', 'png'),
  output_quality: integer(0, 100),
  disable_safety_checker: boolean,
  go_fast: boolean,
  megapixels: oneOf('1', '0.25'),
};

/** Official models by Replicate name. */
export const replicateModels: Readonly<Record<string, ReplicateModelSchema>> = {
  'black-forest-labs/flux-schnell': { catalogId: 'flux-schnell', listOutput: true, defaultOutputFormat: 'webp', defaultAspectRatio: '1:1', fields: schnellFields },
  'black-forest-labs/flux-dev': {
    catalogId: 'flux-dev',
    listOutput: true,
    defaultOutputFormat: 'webp',
    defaultAspectRatio: '1:1',
    // flux-dev: "as schnell + guidance 0–10 (def 3), num_inference_steps 1–50 (def 28), image, prompt_strength".
    fields: { ...schnellFields, num_inference_steps: integer(1, 50), guidance: number(0, 10), prompt_strength: number(0, 1) },
  },
  'black-forest-labs/flux-1.1-pro': {
    catalogId: 'flux-1.1-pro',
    listOutput: false,
    defaultOutputFormat: 'webp',
    defaultAspectRatio: '1:1',
    // flux-1.1-pro: "aspect_ratio incl. custom → width/height 256–1440; safety_tolerance 1–5 (def 2);
    // output_format def webp; output_quality; prompt_upsampling; seed".
    fields: {
      aspect_ratio: oneOf(...fluxRatios, 'custom'),
      width: integer(256, 1440),
      height: integer(256, 1440),
      safety_tolerance: integer(1, 5),
      seed: integer(0, 4_294_967_295),
      output_format: oneOf('webp', 'jpg', 'png'),
      output_quality: integer(0, 100),
      prompt_upsampling: boolean,
    },
  },
  'black-forest-labs/flux-1.1-pro-ultra': {
    catalogId: 'flux-1.1-pro-ultra',
    listOutput: false,
    defaultOutputFormat: 'jpg',
    defaultAspectRatio: '1:1',
    fields: { aspect_ratio: oneOf(...fluxRatios), safety_tolerance: integer(1, 6), seed: integer(0, 4_294_967_295), output_format: oneOf('jpg', 'png'), raw: boolean, image_prompt_strength: number(0, 1) },
  },
  'black-forest-labs/flux-kontext-pro': kontext('flux-kontext-pro'),
  'black-forest-labs/flux-kontext-max': kontext('flux-kontext-max'),
};

function kontext(catalogId: string): ReplicateModelSchema {
  // flux-kontext-pro: "input_image, aspect_ratio (def match_input_image), output_format def png,
  // safety_tolerance 0–6 (max 2 with input image)".
  return {
    catalogId,
    listOutput: false,
    defaultOutputFormat: 'png',
    imageInput: 'input_image',
    fields: {
      aspect_ratio: oneOf(...fluxRatios, 'match_input_image'),
      safety_tolerance: integer(0, 6),
      seed: integer(0, 4_294_967_295),
      output_format: oneOf('jpg', 'png'),
      prompt_upsampling: boolean,
      input_image: { kind: 'string' },
    },
  };
}

/** Any other gateway model, named `<owner>/<catalog id>` (e.g. `openai/gpt-image-1`): Replicate's common inputs. */
function genericSchema(catalogId: string): ReplicateModelSchema {
  return {
    catalogId,
    listOutput: true,
    defaultOutputFormat: 'png',
    imageInput: 'input_image',
    fields: {
      aspect_ratio: { kind: 'string' },
      width: integer(64, 8192),
      height: integer(64, 8192),
      num_outputs: integer(1, 10),
      seed: integer(0, 4_294_967_295),
      output_format: oneOf('webp', 'jpg', 'png'),
      output_quality: integer(0, 100),
      input_image: { kind: 'string' },
    },
  };
}

/** The schema of `owner/name`, or undefined when the gateway serves no such model. */
export function replicateModel(name: string, hasCatalogModel: (id: string) => boolean): ReplicateModelSchema | undefined {
  const known = replicateModels[name];
  if (known !== undefined) return known;
  const match = /^[^/\s]+\/([^/:\s]+)$/.exec(name);
  const catalogId = match?.[1];
  return catalogId !== undefined && hasCatalogModel(catalogId) ? genericSchema(catalogId) : undefined;
}

function invalid(field: string, description: string): GatewayError {
  return new GatewayError('invalid_value', `${field}: ${description}`, { param: field });
}

function check(field: string, value: unknown, rule: FieldRule): void {
  switch (rule.kind) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(field, 'Invalid type. Expected: integer.');
      if (value < rule.min) throw invalid(field, `Must be greater than or equal to ${rule.min}.`);
      if (value > rule.max) throw invalid(field, `Must be less than or equal to ${rule.max}.`);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(field, 'Invalid type. Expected: number.');
      if (value < rule.min) throw invalid(field, `Must be greater than or equal to ${rule.min}.`);
      if (value > rule.max) throw invalid(field, `Must be less than or equal to ${rule.max}.`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw invalid(field, 'Invalid type. Expected: boolean.');
      return;
    case 'enum':
      if (typeof value !== 'string' || !rule.values.includes(value)) throw invalid(field, `${field} must be one of the following: ${rule.values.map((item) => `"${item}"`).join(', ')}.`);
      return;
    case 'string':
      if (typeof value !== 'string') throw invalid(field, 'Invalid type. Expected: string.');
  }
}

export interface ReplicateTranslation {
  fields: RawImageRequest;
  images: Array<{ url: string; field: string }>;
}

/** Inputs the gateway maps to its own fields; every other input goes to the provider as sent. */
const mappedInputs = new Set(['prompt', 'aspect_ratio', 'width', 'height', 'num_outputs', 'seed', 'output_format', 'output_quality']);

/** Validates `input` against the model's schema and translates it to the gateway's request fields. */
export function translateReplicateInput(schema: ReplicateModelSchema, input: Record<string, unknown>): ReplicateTranslation {
  const prompt = input.prompt;
  if (prompt === undefined || prompt === null) throw new GatewayError('missing_required_parameter', 'prompt: prompt is required.', { param: 'prompt' });
  if (typeof prompt !== 'string') throw invalid('prompt', 'Invalid type. Expected: string.');
  for (const [field, rule] of Object.entries(schema.fields)) {
    const value = input[field];
    if (value !== undefined && value !== null) check(field, value, rule);
  }

  const fields: RawImageRequest = { model: schema.catalogId, prompt, response_format: 'url' };
  const count = input.num_outputs;
  fields.n = typeof count === 'number' && schema.listOutput ? count : 1;
  const ratio = (input.aspect_ratio as string | undefined) ?? schema.defaultAspectRatio;
  const width = input.width;
  const height = input.height;
  if (typeof width === 'number' && typeof height === 'number' && (ratio === 'custom' || !('aspect_ratio' in schema.fields) || schema.fields.aspect_ratio?.kind === 'string')) {
    fields.size = `${width}x${height}`;
  } else if (ratio !== undefined && ratio !== 'custom' && ratio !== 'match_input_image') {
    fields.aspect_ratio = ratio;
  } else if (ratio === 'custom') {
    throw invalid('width', "aspect_ratio 'custom' needs width and height.");
  }
  const format = (input.output_format as string | undefined) ?? schema.defaultOutputFormat;
  fields.output_format = format === 'jpg' ? 'jpeg' : format;
  if (typeof input.output_quality === 'number' && format !== 'png') fields.output_compression = input.output_quality;
  if (typeof input.seed === 'number') fields.seed = input.seed;

  const images: Array<{ url: string; field: string }> = [];
  for (const [field, value] of Object.entries(input)) {
    if (field === schema.imageInput && value !== undefined && value !== null) {
      if (typeof value !== 'string') throw invalid(field, 'Invalid type. Expected: string (a URL or a data: URI).');
      images.push({ url: value, field });
      continue;
    }
    if (!mappedInputs.has(field)) fields[field] = value;
  }
  return { fields, images };
}
