// Stability's v2beta Stable Image models: text-to-image on generate/{ultra,core,sd3} and edits on
// edit/inpaint, multipart in and raw image bytes out, one image per call.

import sharp from 'sharp';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, InputImage, ProviderWarning } from '../../core/ports/image-model.js';
import { whiteRepaintMask } from '../shared/masks.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, moderationError } from '../shared/upstream-errors.js';
import { parseImageResponse, parseStabilityError, stabilityProviderName } from './wire.js';

export const stabilityDefaultBaseURL = 'https://api.stability.ai';
export const stabilityAspectRatios = ['16:9', '1:1', '21:9', '2:3', '3:2', '4:5', '5:4', '9:16', '9:21'] as const;
export const stabilitySizeSpec: SizeSpec = { kind: 'aspect_ratio', ratios: stabilityAspectRatios };

/** Stability's seed range; 0 means "pick one at random". */
const largestSeed = 4_294_967_294;
/** The documented limit of the `stability-client-*` headers. */
const clientHeaderMaxLength = 256;

export type StabilityEndpoint = 'ultra' | 'core' | 'sd3';

/**
 * Which generate endpoint serves an upstream model name: `stable-image-ultra` and
 * `stable-image-core` have their own; every SD3 name (`sd3.5-large` …) goes to `sd3` with `model`.
 */
export function stabilityEndpointFor(upstreamModel: string): { endpoint: StabilityEndpoint; sd3Model?: string } | undefined {
  if (upstreamModel === 'stable-image-ultra' || upstreamModel === 'ultra') return { endpoint: 'ultra' };
  if (upstreamModel === 'stable-image-core' || upstreamModel === 'core') return { endpoint: 'core' };
  if (/^sd3(\.\d+)?(-|$)/.test(upstreamModel)) return { endpoint: 'sd3', sd3Model: upstreamModel };
  return undefined;
}

export function createStabilityImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const route = stabilityEndpointFor(modelId);
  if (route === undefined) {
    throw new GatewayError(
      'model_not_found',
      `Stability has no model ${JSON.stringify(modelId)}: use stable-image-ultra, stable-image-core or an sd3 model such as sd3.5-large.`,
      { param: 'model' },
    );
  }
  const baseURL = (settings.baseURL || stabilityDefaultBaseURL).replace(/\/+$/, '');

  async function send(path: string, form: FormData, options: ImageCallOptions): Promise<HttpResponse> {
    // Accept image/* rather than JSON: the image comes as raw bytes (a third smaller than base64, so
    // further from the client's size limit, and no large string to parse), and the finish reason and
    // seed come in headers all the same.
    const headers: Record<string, string> = { authorization: `Bearer ${settings.apiKey}`, accept: 'image/*' };
    if (options.user !== undefined) headers['stability-client-user-id'] = options.user.slice(0, clientHeaderMaxLength);
    const response = await requestUpstream(settings.http, stabilityProviderName, `${baseURL}${path}`, {
      method: 'POST',
      headers,
      body: form,
      signal: options.abortSignal,
      ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
    });
    if (response.status >= 200 && response.status < 300) return response;
    const described = parseStabilityError(response.body);
    if (response.status === 403 && described.name === 'content_moderation') {
      throw moderationError({ provider: stabilityProviderName, model: modelId, stage: 'input' });
    }
    const message = described.errors.length > 0 ? { message: described.errors.join('; ') } : {};
    throw errorFromUpstreamResponse(stabilityProviderName, response, { secrets: [settings.apiKey], ...message });
  }

  function finish(response: HttpResponse, warnings: ProviderWarning[]): ImageCallResult {
    const image = parseImageResponse(response);
    // A filtered output still arrives as a 200 with a blurred picture; it must never reach the client.
    if (image.finishReason === 'CONTENT_FILTERED') {
      throw moderationError({ provider: stabilityProviderName, model: modelId, stage: 'output', reasons: ['CONTENT_FILTERED'] });
    }
    return {
      images: [{ kind: 'bytes', data: image.data, mediaType: image.mediaType }],
      warnings,
      ...(image.requestId === undefined ? {} : { upstreamRequestId: image.requestId }),
    };
  }

  /** Fields every Stability endpoint takes, and warnings for what none of them has. */
  function commonFields(form: FormData, options: ImageCallOptions, formats: readonly string[], warnings: ProviderWarning[]): void {
    form.set('prompt', options.prompt);
    // Where the endpoint lacks the asked format (sd3 has no WebP), PNG is lossless and the core converts.
    form.set('output_format', formats.includes(options.outputFormat) ? options.outputFormat : 'png');
    if (options.seed !== undefined) {
      const seed = options.seed % (largestSeed + 1);
      form.set('seed', String(seed));
      if (seed !== options.seed) warnings.push({ type: 'mapped', param: 'seed', message: `Stability seeds are at most ${largestSeed}; sent ${seed}.` });
    }
    if (options.quality !== undefined && options.quality !== 'auto') {
      warnings.push({ type: 'unsupported', param: 'quality', message: 'Stability has no quality setting; ignored.' });
    }
    if (options.style !== undefined) {
      warnings.push({ type: 'unsupported', param: 'style', message: 'Stability styles are set with style_preset; style was ignored.' });
    }
    if (options.background === 'transparent') {
      warnings.push({ type: 'unsupported', param: 'background', message: 'Stability cannot make transparent backgrounds; the image is opaque.' });
    }
    if (options.moderation !== undefined && options.moderation !== 'auto') {
      warnings.push({ type: 'unsupported', param: 'moderation', message: 'Stability moderation is set by Stability; ignored.' });
    }
  }

  async function generate(options: ImageCallOptions): Promise<ImageCallResult> {
    if (route === undefined) throw new Error('unreachable: the route was checked when the model was built');
    const warnings: ProviderWarning[] = [];
    const size = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, stabilitySizeSpec);
    warnings.push(...size.warnings);
    if (size.value.kind !== 'aspect_ratio') throw new Error('an aspect_ratio size spec maps to an aspect ratio');

    const form = new FormData();
    commonFields(form, options, route.endpoint === 'sd3' ? ['png', 'jpeg'] : ['png', 'jpeg', 'webp'], warnings);
    form.set('aspect_ratio', size.value.aspectRatio);
    if (route.sd3Model !== undefined) form.set('model', route.sd3Model);
    addProviderOptions(form, options.providerOptions);
    const response = await send(`/v2beta/stable-image/generate/${route.endpoint}`, form, options);
    return finish(response, warnings);
  }

  /**
   * Edits go to inpaint whatever the model: it follows OpenAI's edit semantics, repainting where the
   * mask says (or, without a mask, where the image is transparent) and keeping the input's size.
   */
  async function edit(options: ImageCallOptions): Promise<ImageCallResult> {
    const [source, ...extra] = options.images;
    if (source === undefined) throw new GatewayError('missing_required_parameter', 'An edit needs an input image.', { param: 'image' });
    const warnings: ProviderWarning[] = [];
    if (extra.length > 0) {
      warnings.push({ type: 'unsupported', param: 'image', message: `Stability inpaint edits one image; the other ${extra.length} were not sent.` });
    }
    if (source.width !== options.size.width || source.height !== options.size.height) {
      warnings.push({
        type: 'mapped',
        param: 'size',
        message: `Stability inpaint returns the input image's size; the result is ${source.width}x${source.height}, not ${options.size.width}x${options.size.height}.`,
      });
    }

    const form = new FormData();
    commonFields(form, options, ['png', 'jpeg', 'webp'], warnings);
    const image = await asStabilityInput(source);
    form.set('image', new Blob([image.data], { type: image.mediaType }), `image.${image.mediaType.slice('image/'.length)}`);
    if (options.mask !== undefined) form.set('mask', new Blob([await toStabilityMask(options.mask)], { type: 'image/png' }), 'mask.png');
    addProviderOptions(form, options.providerOptions);
    const response = await send('/v2beta/stable-image/edit/inpaint', form, options);
    return finish(response, warnings);
  }

  return {
    specificationVersion: 'v1',
    provider: stabilityProviderName,
    modelId,
    maxImagesPerCall: 1,
    operations: ['generate', 'edit'],
    generate,
    edit,
  };
}

/** Provider options become form fields as-is: text as text, anything structured as JSON. */
function addProviderOptions(form: FormData, providerOptions: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(providerOptions)) {
    if (value === undefined || value === null) continue;
    form.set(key, typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));
  }
}

/** Stability reads PNG, JPEG and WebP; a GIF is sent as a PNG of its first frame. */
async function asStabilityInput(image: InputImage): Promise<{ data: Buffer; mediaType: string }> {
  if (image.mediaType !== 'image/gif') return { data: image.data, mediaType: image.mediaType };
  return { data: await sharp(image.data).png().toBuffer(), mediaType: 'image/png' };
}

/**
 * OpenAI masks mark the area to repaint with transparency; Stability masks are greyscale, white
 * meaning repaint. So a mask with alpha becomes its inverted alpha channel; one without alpha is
 * taken to be a greyscale mask already.
 */
export function toStabilityMask(mask: InputImage): Promise<Buffer> {
  return whiteRepaintMask(mask);
}
