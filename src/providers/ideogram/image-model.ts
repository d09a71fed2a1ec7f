// One Ideogram 3.0 model as an ImageModel: multipart requests to /v1/ideogram-v3/{generate,edit,remix,
// reframe,replace-background} with the `Api-Key` header, synchronous JSON answers whose image URLs
// expire ("Images links are available for a limited period of time"), so the core downloads them at
// once through the guarded client and hosts them itself.

import sharp from 'sharp';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, InputImage, PixelSize, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { nearestAspectRatio } from '../shared/size-mapping.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, moderationError } from '../shared/upstream-errors.js';
import { ideogramAspectRatios, ideogramLargestSeed, ideogramMaxImagesPerCall, ideogramModelKind, ideogramResolutions, type IdeogramModelKind } from './models.js';
import { ideogramErrorText, ideogramProviderName, parseGenerationResponse } from './wire.js';

export const ideogramDefaultBaseURL = 'https://api.ideogram.ai';

/**
 * OpenAI `quality` → Ideogram `rendering_speed` (FLASH, TURBO, DEFAULT, QUALITY). Ideogram prices each
 * speed differently, so the speed follows the quality the gateway priced, and `rendering_speed` is not
 * accepted as a pass-through field. `standard`/`hd` are DALL·E's names, for catalogs that alias them here.
 */
const renderingSpeeds: Readonly<Record<string, string>> = {
  flash: 'FLASH',
  low: 'TURBO',
  medium: 'DEFAULT',
  standard: 'DEFAULT',
  high: 'QUALITY',
  hd: 'QUALITY',
};

/** Fields the gateway sets from OpenAI's own; a client sends the OpenAI field instead. */
const reservedFields: Readonly<Record<string, string>> = {
  rendering_speed: "use 'quality' (flash → FLASH, low → TURBO, medium → DEFAULT, high → QUALITY)",
  num_images: "use 'n'",
  resolution: "use 'size'",
  image: 'send the image as the edit input',
  mask: 'send the mask as the edit mask',
  // Billed at Ideogram's character-reference and custom-model rates, which the price book does not carry.
  character_reference_images: 'character references are not offered through this gateway',
  character_reference_images_mask: 'character references are not offered through this gateway',
  custom_model_uri: 'custom models are not offered through this gateway',
};

const parsedResolutions: readonly PixelSize[] = ideogramResolutions.map((text) => {
  const [width, height] = text.split('x').map(Number);
  return { width: width ?? 0, height: height ?? 0 };
});

type IdeogramPath = 'generate' | 'edit' | 'remix' | 'reframe' | 'replace-background';

export function createIdeogramImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const kind = ideogramModelKind(modelId);
  const baseURL = (settings.baseURL || ideogramDefaultBaseURL).replace(/\/+$/, '');
  const operations: readonly ImageOperation[] = kind === 'v3' ? ['generate', 'edit'] : ['edit'];

  async function send(path: IdeogramPath, form: FormData, options: ImageCallOptions): Promise<HttpResponse> {
    const response = await requestUpstream(settings.http, ideogramProviderName, `${baseURL}/v1/ideogram-v3/${path}`, {
      method: 'POST',
      headers: { 'api-key': settings.apiKey, accept: 'application/json' },
      body: form,
      signal: options.abortSignal,
      ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
    });
    if (response.status === 200) return response;
    // 422 on every v3 endpoint: "Prompt failed the safety check" / "Prompt or provided image failed
    // safety check", body `GenerateImageSafetyError`. Nothing was generated, so it is the input's moderation.
    if (response.status === 422) throw moderationError({ provider: ideogramProviderName, model: modelId, stage: 'input' });
    const text = ideogramErrorText(response.body);
    throw errorFromUpstreamResponse(ideogramProviderName, response, { secrets: [settings.apiKey], ...(text === undefined ? {} : { message: text }) });
  }

  function finish(response: HttpResponse, options: ImageCallOptions, warnings: ProviderWarning[]): ImageCallResult {
    const answered = parseGenerationResponse(response);
    const images: ProviderImage[] = [];
    let withheld = 0;
    for (const item of answered) {
      // "Whether this request passes safety checks. If false, the url field will be empty."
      if (!item.isImageSafe || item.url === undefined) {
        withheld += 1;
        continue;
      }
      const revised = item.prompt !== undefined && item.prompt !== options.prompt ? { revisedPrompt: item.prompt } : {};
      images.push({ kind: 'url', url: item.url, ...revised });
    }
    if (images.length === 0 && withheld > 0) {
      throw moderationError({ provider: ideogramProviderName, model: modelId, stage: 'output' });
    }
    if (withheld > 0) {
      warnings.push({ type: 'other', message: `Ideogram withheld ${withheld} of ${answered.length} images that failed its safety check.` });
    }
    const requestId = response.headers['x-request-id'];
    return { images, warnings, ...(requestId === undefined ? {} : { upstreamRequestId: requestId }) };
  }

  async function generate(options: ImageCallOptions): Promise<ImageCallResult> {
    if (kind !== 'v3') throw editOnly(modelId);
    const warnings: ProviderWarning[] = [];
    const form = new FormData();
    form.set('prompt', options.prompt);
    sizeFields(form, options.size, warnings);
    commonFields(form, options, warnings);
    addProviderOptions(form, options.providerOptions);
    return finish(await send('generate', form, options), options, warnings);
  }

  async function edit(options: ImageCallOptions): Promise<ImageCallResult> {
    const [source, ...extra] = options.images;
    if (source === undefined) throw new GatewayError('missing_required_parameter', 'An edit needs an input image.', { param: 'image' });
    const warnings: ProviderWarning[] = [];
    if (extra.length > 0) {
      warnings.push({ type: 'unsupported', param: 'image', message: `Ideogram edits one image; the other ${extra.length} were not sent.` });
    }
    const path = editPath(kind, options.mask !== undefined);
    const form = new FormData();
    const image = await asIdeogramInput(source);
    form.set('image', new Blob([image.data], { type: image.mediaType }), `image.${image.mediaType.slice('image/'.length)}`);

    if (path === 'edit') {
      const mask = options.mask as InputImage;
      form.set('mask', new Blob([await toIdeogramMask(mask, source)], { type: 'image/png' }), 'mask.png');
      form.set('prompt', options.prompt);
      keepsInputSize(source, options.size, warnings);
    } else if (path === 'remix') {
      // "Input images are cropped to the chosen aspect ratio before being remixed."
      form.set('prompt', options.prompt);
      sizeFields(form, options.size, warnings);
    } else if (path === 'reframe') {
      // Reframe takes no prompt, and needs one of Ideogram's resolutions.
      warnings.push({ type: 'unsupported', param: 'prompt', message: 'Ideogram reframe takes no prompt; it extends the image to the new size.' });
      const chosen = nearestResolution(options.size);
      form.set('resolution', chosen);
      if (chosen !== `${options.size.width}x${options.size.height}`) {
        warnings.push({ type: 'mapped', param: 'size', message: `Ideogram reframes to its listed resolutions; ${options.size.width}x${options.size.height} became ${chosen}.` });
      }
    } else {
      form.set('prompt', options.prompt);
      keepsInputSize(source, options.size, warnings);
    }
    if (options.mask !== undefined && path !== 'edit') {
      warnings.push({ type: 'unsupported', param: 'mask', message: `Ideogram ${path} takes no mask; it was not sent.` });
    }
    commonFields(form, options, warnings);
    addProviderOptions(form, options.providerOptions);
    return finish(await send(path, form, options), options, warnings);
  }

  return {
    specificationVersion: 'v1',
    provider: ideogramProviderName,
    modelId,
    maxImagesPerCall: ideogramMaxImagesPerCall,
    operations,
    generate,
    edit,
  };
}

/** With a mask, `/edit` repaints the masked area; without one, `/remix` redraws the whole image from it. */
function editPath(kind: IdeogramModelKind, hasMask: boolean): IdeogramPath {
  if (kind === 'reframe') return 'reframe';
  if (kind === 'replace-background') return 'replace-background';
  return hasMask ? 'edit' : 'remix';
}

function editOnly(modelId: string): GatewayError {
  return new GatewayError('invalid_value', `${modelId} edits an input image; send it to /v1/images/edits.`, { param: 'model' });
}

/** `num_images`, `seed`, `rendering_speed`, and warnings for the OpenAI fields Ideogram has no use for. */
function commonFields(form: FormData, options: ImageCallOptions, warnings: ProviderWarning[]): void {
  form.set('num_images', String(Math.min(Math.max(options.n, 1), ideogramMaxImagesPerCall)));
  if (options.seed !== undefined) {
    const seed = options.seed % (ideogramLargestSeed + 1);
    form.set('seed', String(seed));
    if (seed !== options.seed) warnings.push({ type: 'mapped', param: 'seed', message: `Ideogram seeds are at most ${ideogramLargestSeed}; sent ${seed}.` });
  }
  if (options.quality !== undefined && options.quality !== 'auto') {
    const speed = renderingSpeeds[options.quality];
    if (speed === undefined) {
      warnings.push({ type: 'unsupported', param: 'quality', message: `Ideogram has no quality ${JSON.stringify(options.quality)}; its default speed was used.` });
    } else {
      form.set('rendering_speed', speed);
    }
  }
  if (options.style !== undefined) {
    warnings.push({ type: 'unsupported', param: 'style', message: 'Ideogram styles are set with style_type or style_preset; style was ignored.' });
  }
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'Ideogram 3.0 images are opaque here; the background is not transparent.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: 'Ideogram moderation is set by Ideogram; ignored.' });
  }
}

/**
 * The size rule: a size in Ideogram's resolution list is sent as `resolution`; any other goes as the
 * nearest of its aspect ratios (Ideogram then picks the pixels), with a warning. The two fields are
 * exclusive ("Cannot be used in conjunction with resolution").
 */
function sizeFields(form: FormData, size: PixelSize, warnings: ProviderWarning[]): void {
  const asked = `${size.width}x${size.height}`;
  if ((ideogramResolutions as readonly string[]).includes(asked)) {
    form.set('resolution', asked);
    return;
  }
  const ratio = nearestAspectRatio(size, ideogramAspectRatios.map((name) => name.replace('x', ':'))).replace(':', 'x');
  form.set('aspect_ratio', ratio);
  warnings.push({ type: 'mapped', param: 'size', message: `${asked} is not one of Ideogram's resolutions; sent aspect_ratio ${ratio}, and Ideogram picks the pixels.` });
}

/** The listed resolution nearest in shape, then in pixel count (reframe must name one). */
export function nearestResolution(size: PixelSize): string {
  const shape = (candidate: PixelSize) => Math.abs(Math.log(candidate.width / candidate.height) - Math.log(size.width / size.height));
  const area = (candidate: PixelSize) => Math.abs(Math.log((candidate.width * candidate.height) / (size.width * size.height)));
  let best = parsedResolutions[0] as PixelSize;
  for (const candidate of parsedResolutions) {
    const closer = shape(candidate) < shape(best) - 1e-9 || (Math.abs(shape(candidate) - shape(best)) <= 1e-9 && area(candidate) < area(best));
    if (closer) best = candidate;
  }
  return `${best.width}x${best.height}`;
}

/** `/edit` and `/replace-background` keep the input's dimensions; a different asked size is reported. */
function keepsInputSize(source: InputImage, size: PixelSize, warnings: ProviderWarning[]): void {
  if (source.width === size.width && source.height === size.height) return;
  warnings.push({
    type: 'mapped',
    param: 'size',
    message: `Ideogram returns the input image's size here; the result is ${source.width}x${source.height}, not ${size.width}x${size.height}.`,
  });
}

/**
 * Provider options become form fields as-is: text as text, lists as repeated fields (`style_codes`),
 * objects (`color_palette`) as JSON. The fields the gateway fills from OpenAI's own are refused, so the
 * speed Ideogram bills is always the one the gateway priced.
 */
function addProviderOptions(form: FormData, providerOptions: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(providerOptions)) {
    const instead = reservedFields[key];
    if (instead !== undefined) throw new GatewayError('invalid_value', `'${key}' is set by the gateway for Ideogram: ${instead}.`, { param: key });
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) form.append(key, typeof item === 'string' ? item : JSON.stringify(item));
      continue;
    }
    form.set(key, typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));
  }
}

/** Ideogram reads JPEG, PNG and WebP ("only JPEG, WebP and PNG formats are supported"); a GIF goes as a PNG of its first frame. */
async function asIdeogramInput(image: InputImage): Promise<{ data: Buffer; mediaType: string }> {
  if (image.mediaType !== 'image/gif') return { data: image.data, mediaType: image.mediaType };
  return { data: await sharp(image.data).png().toBuffer(), mediaType: 'image/png' };
}

/**
 * OpenAI masks mark the area to repaint as transparent; Ideogram's is "a black and white image of the
 * same size as the image being edited … Black regions in the mask should match up with the regions of
 * the image that you would like to edit". So the alpha channel, thresholded, is the Ideogram mask
 * (transparent → black). A mask without alpha is taken to be black-and-white already. It is scaled to
 * the image's size when it differs.
 */
export async function toIdeogramMask(mask: InputImage, image: PixelSize): Promise<Buffer> {
  const metadata = await sharp(mask.data).metadata();
  let pipeline = metadata.hasAlpha ? sharp(mask.data).extractChannel('alpha') : sharp(mask.data).toColourspace('b-w');
  if (mask.width !== image.width || mask.height !== image.height) pipeline = sharp(await pipeline.png().toBuffer()).resize(image.width, image.height, { fit: 'fill' });
  return pipeline.threshold(128).toColourspace('b-w').png().toBuffer();
}
