// Checks the images attached to an edit or variation against the model's limits, after sniffing
// their real format from the bytes (SDKs label every file application/octet-stream).

import { GatewayError } from './errors.js';
import type { CatalogModel } from './catalog/types.js';
import type { InputImage } from './ports/image-model.js';
import { inspectImage, mediaTypes } from '../images/codec.js';

export interface RawImageInput {
  data: Buffer;
  filename?: string;
  /** Which request field carried it (for error params): image, image[], images, mask. */
  field: string;
}

const megabytes = (bytes: number): string => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`;

/**
 * The gateway's default cap on decoded input pixels: 40 MP (e.g. 7300 × 5475), far below sharp's own
 * 268 MP and above every model's input and output sizes in the catalog. A small file may declare a
 * huge canvas (a "decompression bomb"); the dimensions are read from the header, before any decode.
 */
export const defaultMaxInputPixels = 40_000_000;

export interface InputImageLimits {
  /** images.max_input_megapixels: the cap for every model; a model's own max_input_pixels lowers it. */
  maxInputPixels?: number;
}

function pixelCap(model: CatalogModel | undefined, limits: InputImageLimits): number {
  return Math.min(limits.maxInputPixels ?? defaultMaxInputPixels, model?.edit?.max_input_pixels ?? Infinity);
}

async function decode(input: RawImageInput, param: string, maxPixels: number): Promise<InputImage & { hasAlpha: boolean; channels: number; format: string }> {
  if (input.data.length === 0) throw new GatewayError('invalid_image', `The file in '${param}' is empty.`, { param });
  // inspectImage reads the header only (sharp's metadata), so the pixel count is known before any decode.
  const info = await inspectImage(input.data);
  if (!info) {
    throw new GatewayError('invalid_image_format', `The file in '${param}' is not a valid PNG, JPEG, WebP or GIF image.`, { param });
  }
  if (info.width * info.height > maxPixels) {
    throw new GatewayError(
      'image_too_large',
      `The image in '${param}' is ${info.width}x${info.height} (${info.width * info.height} pixels); at most ${maxPixels} pixels are accepted.`,
      { param },
    );
  }
  return {
    data: input.data,
    mediaType: mediaTypes[info.format],
    width: info.width,
    height: info.height,
    filename: input.filename,
    hasAlpha: info.hasAlpha,
    channels: info.channels,
    format: info.format,
  };
}

/** Validates edit inputs; returns the images (first one is the one a mask applies to) and the mask. */
export async function checkEditInputs(
  model: CatalogModel,
  images: RawImageInput[],
  mask: RawImageInput | undefined,
  imageLimits: InputImageLimits = {},
): Promise<{ images: InputImage[]; mask?: InputImage }> {
  const maxPixels = pixelCap(model, imageLimits);
  const limits = model.edit;
  if (!limits) throw new GatewayError('invalid_value', `${model.id} does not support image edits.`, { param: 'model' });
  if (images.length === 0) throw new GatewayError('missing_required_parameter', "Missing required parameter: 'image'.", { param: 'image' });
  const param = images[0]?.field ?? 'image';
  if (images.length > limits.max_images) {
    throw new GatewayError('invalid_value', `${model.id} accepts at most ${limits.max_images} image(s) per edit; got ${images.length}.`, { param });
  }
  const decoded = [];
  for (const image of images) {
    // The spec's limits are strict ("< 4 MB", "< 50 MB"); bytes in the message, as MB rounding hides the excess.
    if (image.data.length >= limits.max_image_bytes) {
      throw new GatewayError(
        'image_too_large',
        `Each image must be smaller than ${megabytes(limits.max_image_bytes)} (${limits.max_image_bytes} bytes) for ${model.id}; got ${image.data.length} bytes.`,
        { param },
      );
    }
    const info = await decode(image, param, maxPixels);
    if (!(limits.formats as string[]).includes(info.format)) {
      throw new GatewayError('invalid_image_format', `${model.id} accepts ${limits.formats.join(', ')} images; got ${info.format}.`, { param });
    }
    if (limits.square && info.width !== info.height) {
      throw new GatewayError('invalid_image', `${model.id} needs a square image; got ${info.width}x${info.height}.`, { param });
    }
    decoded.push(info);
  }
  let decodedMask: InputImage | undefined;
  if (mask) {
    if (mask.data.length >= 4 * 1024 * 1024) throw new GatewayError('image_too_large', 'The mask must be a PNG smaller than 4 MB.', { param: 'mask' });
    const info = await decode(mask, 'mask', maxPixels);
    if (info.format !== 'png') throw new GatewayError('invalid_image_format', `The mask must be a PNG; got ${info.format}.`, { param: 'mask' });
    const first = decoded[0] as InputImage;
    if (info.width !== first.width || info.height !== first.height) {
      throw new GatewayError(
        'invalid_image',
        `The mask must have the same dimensions as the first image: ${first.width}x${first.height}; got ${info.width}x${info.height}.`,
        { param: 'mask' },
      );
    }
    if (!info.hasAlpha) throw new GatewayError('invalid_image', 'The mask needs an alpha channel: fully transparent pixels mark the area to edit.', { param: 'mask' });
    decodedMask = strip(info);
  } else if (limits.alpha_required_without_mask) {
    const first = decoded[0];
    if (first && !first.hasAlpha && first.channels !== 1) {
      throw new GatewayError(
        'invalid_image',
        "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB. Without a mask, transparent pixels of the image mark the area to edit.",
        { param },
      );
    }
  }
  return { images: decoded.map(strip), mask: decodedMask };
}

/** Validates a variation source: one square PNG under 4 MB (dall-e-2 semantics). */
export async function checkVariationInput(image: RawImageInput | undefined, model?: CatalogModel, imageLimits: InputImageLimits = {}): Promise<InputImage> {
  if (!image) throw new GatewayError('missing_required_parameter', "Missing required parameter: 'image'.", { param: 'image' });
  if (image.data.length >= 4 * 1024 * 1024) throw new GatewayError('image_too_large', 'The image must be a PNG smaller than 4 MB.', { param: 'image' });
  const info = await decode(image, 'image', pixelCap(model, imageLimits));
  if (info.format !== 'png') throw new GatewayError('invalid_image_format', `The image must be a PNG; got ${info.format}.`, { param: 'image' });
  if (info.width !== info.height) throw new GatewayError('invalid_image', `The image must be square; got ${info.width}x${info.height}.`, { param: 'image' });
  return strip(info);
}

function strip(info: InputImage & { hasAlpha: boolean; channels: number; format: string }): InputImage {
  return { data: info.data, mediaType: info.mediaType, width: info.width, height: info.height, filename: info.filename };
}
