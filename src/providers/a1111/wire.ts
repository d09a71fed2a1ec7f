// The AUTOMATIC1111 / Forge `/sdapi/v1` wire format: request bodies for txt2img and img2img, the
// response (base64 images and an `info` that is itself JSON text), and the webui's error bodies.
// Source: AUTOMATIC1111/stable-diffusion-webui modules/api/models.py and modules/api/api.py.

import sharp from 'sharp';
import type { ImageCallOptions, InputImage, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import type { HttpResponse } from '../shared/types.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const a1111ProviderName = 'a1111';

/**
 * Request fields a client may set through the gateway (they arrive as unknown request fields): the
 * sampling controls of the processing classes. Everything else — scripts, `save_images`,
 * `override_settings` — runs code or writes files on the operator's machine, so only the operator
 * sets it (the channel's `options.parameters`).
 */
export const clientParameters: ReadonlySet<string> = new Set([
  'negative_prompt', 'steps', 'cfg_scale', 'sampler_name', 'scheduler', 'denoising_strength', 'subseed', 'subseed_strength',
  'restore_faces', 'tiling', 'enable_hr', 'hr_scale', 'hr_upscaler', 'hr_second_pass_steps', 'styles', 'distilled_cfg_scale',
]);

export interface BodyInput {
  options: ImageCallOptions;
  width: number;
  height: number;
  /** The checkpoint to switch to for this job; undefined = whatever the webui has loaded. */
  checkpoint: string | undefined;
  /** The operator's fixed parameters from the channel (sent first, so a client's sampling choice wins). */
  operatorParameters: Record<string, unknown>;
  /** Lets `/internal/progress` report this job. */
  taskId: string;
}

/** The txt2img body; img2img adds `init_images`, `mask` and `denoising_strength`. */
export function buildBody(input: BodyInput): { body: Record<string, unknown>; warnings: ProviderWarning[] } {
  const { options } = input;
  const warnings: ProviderWarning[] = [];
  const overrides: Record<string, unknown> = {
    ...(typeof input.operatorParameters['override_settings'] === 'object' ? (input.operatorParameters['override_settings'] as Record<string, unknown>) : {}),
    // With more than one image the webui puts a grid first in `images` unless this is off.
    return_grid: false,
  };
  if (input.checkpoint !== undefined) overrides['sd_model_checkpoint'] = input.checkpoint;
  const body: Record<string, unknown> = {
    ...input.operatorParameters,
    prompt: options.prompt,
    width: input.width,
    height: input.height,
    batch_size: options.n,
    n_iter: 1,
    seed: options.seed ?? -1,
    send_images: true,
    save_images: false,
    override_settings: overrides,
    override_settings_restore_afterwards: true,
    force_task_id: input.taskId,
  };
  for (const [name, value] of Object.entries(options.providerOptions)) {
    if (clientParameters.has(name)) body[name] = value;
    else warnings.push({ type: 'unsupported', param: name, message: `AUTOMATIC1111 channels do not take '${name}' from a request; it was not sent.` });
  }
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'Stable Diffusion renders opaque images; background "transparent" was not applied.' });
  }
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: `AUTOMATIC1111 has no 'style' parameter; it was not sent.` });
  return { body, warnings };
}

export function toBase64(image: InputImage): string {
  return image.data.toString('base64');
}

/**
 * OpenAI's mask marks the area to edit with transparency; the webui's inpainting mask marks it white
 * on black (`inpainting_mask_invert` 0). The alpha channel, inverted, is exactly that.
 */
export async function toInpaintingMask(mask: InputImage): Promise<string> {
  const converted = await sharp(mask.data).ensureAlpha().extractChannel(3).negate().png().toBuffer();
  return converted.toString('base64');
}

export interface ParsedResult {
  images: ProviderImage[];
  seeds: number[];
}

/** `{images: [base64 png…], parameters, info: "<json>"}`; a leading grid is dropped when more came than asked. */
export function parseResult(response: HttpResponse, asked: number): ParsedResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(a1111ProviderName, 'the body is not JSON');
  }
  if (!isRecord(parsed) || !Array.isArray(parsed['images']) || !parsed['images'].every((image) => typeof image === 'string')) {
    throw invalidUpstreamResponse(a1111ProviderName, 'no images list');
  }
  let images = parsed['images'] as string[];
  // A grid is only ever added in front of a batch (processing.py), so the last `asked` are the images.
  if (images.length > asked) images = images.slice(images.length - asked);
  let seeds: number[] = [];
  if (typeof parsed['info'] === 'string') {
    try {
      const info: unknown = JSON.parse(parsed['info']);
      if (isRecord(info) && Array.isArray(info['all_seeds'])) seeds = info['all_seeds'].filter((seed): seed is number => typeof seed === 'number');
    } catch {
      // `info` is informational; a webui extension that breaks it must not lose the images.
    }
  }
  return {
    images: images.map((text) => ({ kind: 'bytes', data: Buffer.from(text, 'base64'), mediaType: 'image/png' })),
    seeds,
  };
}

/**
 * The webui's error bodies: `{"error", "detail", "body", "errors"}` from its exception handler, or
 * FastAPI's `{"detail": [...]}` / `{"detail": "..."}`. Returns the most specific message.
 */
export function errorMessageOf(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  if (typeof parsed['errors'] === 'string' && parsed['errors'] !== '') {
    return typeof parsed['error'] === 'string' ? `${parsed['error']}: ${parsed['errors']}` : parsed['errors'];
  }
  const detail = parsed['detail'];
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .filter(isRecord)
      .map((item) => `${Array.isArray(item['loc']) ? item['loc'].join('.') : ''}: ${String(item['msg'] ?? '')}`)
      .join('; ');
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
