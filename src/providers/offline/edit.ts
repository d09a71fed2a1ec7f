// The offline engine's edits and variations: real pixel work on the caller's images, so edit and
// variation clients (and their tests) see output that depends on what they sent.

import sharp from 'sharp';
import type { Background, InputImage } from '../../core/ports/image-model.js';
import { GatewayError } from '../../core/errors.js';
import { assertPixelSize, createRandom, encodeImage, renderSceneRaw, type SceneInput } from './render.js';

/** Only the bytes are read; sizes are taken from the decoded image, not from the caller's claim. */
export type ImageBytes = Pick<InputImage, 'data'>;

/** An edit paints the prompt's scene into the caller's images, so it takes what a scene takes. */
export interface EditInput extends SceneInput {
  /** The first image is the one edited (and the one a mask applies to); the others become inset thumbnails. */
  images: readonly ImageBytes[];
  /** Same size as the first image; alpha 0 marks the area to repaint. */
  mask?: ImageBytes;
}

/** A variation has no prompt: only the seed's scene shows through. */
export interface VariationInput extends Omit<SceneInput, 'prompt'> {
  image: ImageBytes;
}

/** OpenAI accepts up to 16 input images for an edit. */
export const maxEditImages = 16;

/** How strongly the prompt's scene shows through an edit without a mask. */
const unmaskedSceneCoverage = Math.round(0.35 * 255);
/** How strongly the seed's scene shows through a variation. */
const variationSceneCoverage = Math.round(0.15 * 255);

interface RawImage {
  data: Buffer;
  hasAlpha: boolean;
}

/** Decodes, orients and cover-resizes an input to width × height RGBA; bad bytes are the client's fault. */
async function loadCover(image: ImageBytes, width: number, height: number, param: string, adjust?: (pipeline: sharp.Sharp) => sharp.Sharp): Promise<RawImage> {
  try {
    const metadata = await sharp(image.data).metadata();
    let pipeline = sharp(image.data).rotate().resize(width, height, { fit: 'cover' });
    if (adjust) pipeline = adjust(pipeline);
    const data = await pipeline.ensureAlpha().raw().toBuffer();
    return { data, hasAlpha: metadata.hasAlpha };
  } catch (error) {
    throw new GatewayError('invalid_image', `Invalid image in '${param}': it could not be decoded.`, { param, cause: error });
  }
}

async function dimensionsOf(image: ImageBytes, param: string): Promise<{ width: number; height: number }> {
  try {
    const metadata = await sharp(image.data).metadata();
    return { width: metadata.autoOrient.width, height: metadata.autoOrient.height };
  } catch (error) {
    throw new GatewayError('invalid_image', `Invalid image in '${param}': it could not be decoded.`, { param, cause: error });
  }
}

/**
 * Per pixel, moves from `base` towards `layer` by coverage/255 on all four channels, so a covered
 * pixel takes the layer's colour and transparency and an uncovered one keeps the base exactly.
 */
function replaceBlend(base: Buffer, layer: Buffer, coverage: Uint8Array): Buffer {
  const output = Buffer.allocUnsafe(base.length);
  for (let pixel = 0; pixel < coverage.length; pixel += 1) {
    const amount = coverage[pixel] ?? 0;
    const offset = pixel * 4;
    for (let channel = offset; channel < offset + 4; channel += 1) {
      const from = base[channel] ?? 0;
      output[channel] = amount === 0 ? from : Math.round(from + ((layer[channel] ?? 0) - from) * (amount / 255));
    }
  }
  return output;
}

/** Porter-Duff "over": the layer, its alpha scaled by coverage/255, painted on top of the base. */
function overBlend(base: Buffer, layer: Buffer, coverage: Uint8Array): Buffer {
  const output = Buffer.allocUnsafe(base.length);
  for (let pixel = 0; pixel < coverage.length; pixel += 1) {
    const offset = pixel * 4;
    const layerAlpha = ((layer[offset + 3] ?? 0) * (coverage[pixel] ?? 0)) / 255 / 255;
    const baseAlpha = (base[offset + 3] ?? 0) / 255;
    const outAlpha = layerAlpha + baseAlpha * (1 - layerAlpha);
    output[offset + 3] = Math.round(outAlpha * 255);
    for (let channel = 0; channel < 3; channel += 1) {
      const layerValue = layer[offset + channel] ?? 0;
      const baseValue = base[offset + channel] ?? 0;
      output[offset + channel] = outAlpha === 0 ? 0 : Math.round((layerValue * layerAlpha + baseValue * baseAlpha * (1 - layerAlpha)) / outAlpha);
    }
  }
  return output;
}

interface Rectangle {
  left: number;
  top: number;
  size: number;
}

/** Paints the extra input images as framed thumbnails in rows from the bottom-left corner. */
async function addThumbnails(scene: Buffer, extras: readonly ImageBytes[], width: number, height: number): Promise<{ scene: Buffer; rectangles: Rectangle[] }> {
  const unit = Math.min(width, height);
  const size = Math.round(unit * 0.18);
  const margin = Math.max(1, Math.round(unit * 0.02));
  const border = Math.max(1, Math.round(size * 0.04));
  if (extras.length === 0 || size - border * 2 < 4) return { scene, rectangles: [] };
  const perRow = Math.max(1, Math.floor((width - margin) / (size + margin)));
  const rectangles: Rectangle[] = [];
  const overlays: sharp.OverlayOptions[] = [];
  for (const [index, extra] of extras.entries()) {
    const left = margin + (index % perRow) * (size + margin);
    const top = height - (Math.floor(index / perRow) + 1) * (size + margin);
    // Rows that would run off the top are left out rather than drawn over each other.
    if (top < 0) break;
    const thumbnail = await loadCover(extra, size - border * 2, size - border * 2, 'image', (pipeline) =>
      pipeline.flatten({ background: { r: 255, g: 255, b: 255 } }).extend({ top: border, bottom: border, left: border, right: border, background: { r: 255, g: 255, b: 255, alpha: 1 } }),
    );
    overlays.push({ input: thumbnail.data, raw: { width: size, height: size, channels: 4 }, left, top });
    rectangles.push({ left, top, size });
  }
  const composed = await sharp(scene, { raw: { width, height, channels: 4 } }).composite(overlays).raw().toBuffer();
  return { scene: composed, rectangles };
}

/** The first image's alpha decides: `auto` keeps transparency only if the caller sent some. */
function keepAlphaFor(background: Background, inputHasAlpha: boolean): boolean {
  return background === 'transparent' || (background === 'auto' && inputHasAlpha);
}

/**
 * Edits the first image with the prompt's scene: inside the mask's transparent area the scene
 * replaces the picture; without a mask the scene is laid over the whole picture at 35%.
 */
export async function renderEdit(input: EditInput): Promise<Buffer> {
  const { width, height } = input;
  assertPixelSize(width, height);
  const [first, ...extras] = input.images;
  if (first === undefined) throw new GatewayError('missing_required_parameter', "Missing required parameter: 'image'.", { param: 'image' });
  if (input.images.length > maxEditImages) {
    throw new GatewayError('invalid_value', `Invalid value for 'image': ${input.images.length} images were sent; at most ${maxEditImages} are accepted.`, { param: 'image' });
  }

  let maskAlpha: Uint8Array | undefined;
  if (input.mask !== undefined) {
    const [imageSize, maskSize] = await Promise.all([dimensionsOf(first, 'image'), dimensionsOf(input.mask, 'mask')]);
    if (imageSize.width !== maskSize.width || imageSize.height !== maskSize.height) {
      throw new GatewayError(
        'invalid_image',
        `Invalid mask: it is ${maskSize.width}x${maskSize.height} but the image is ${imageSize.width}x${imageSize.height}; they must be the same size.`,
        { param: 'mask' },
      );
    }
    const mask = await loadCover(input.mask, width, height, 'mask');
    maskAlpha = new Uint8Array(width * height);
    for (let pixel = 0; pixel < maskAlpha.length; pixel += 1) maskAlpha[pixel] = mask.data[pixel * 4 + 3] ?? 255;
  }

  const [base, renderedScene] = await Promise.all([
    loadCover(first, width, height, 'image'),
    renderSceneRaw({ prompt: input.prompt, seed: input.seed, width, height, transparent: input.background === 'transparent' }),
  ]);
  const { scene, rectangles } = await addThumbnails(renderedScene, extras.slice(0, maxEditImages - 1), width, height);

  let blended: Buffer;
  if (maskAlpha !== undefined) {
    const coverage = maskAlpha.map((alpha) => 255 - alpha);
    blended = replaceBlend(base.data, scene, coverage);
  } else {
    const coverage = new Uint8Array(width * height).fill(unmaskedSceneCoverage);
    // Thumbnails are shown at full strength so each extra image is recognisable in the result.
    for (const rectangle of rectangles) {
      for (let row = rectangle.top; row < rectangle.top + rectangle.size; row += 1) coverage.fill(255, row * width + rectangle.left, row * width + rectangle.left + rectangle.size);
    }
    blended = overBlend(base.data, scene, coverage);
  }

  const image = sharp(blended, { raw: { width, height, channels: 4 } });
  return encodeImage(image, { format: input.format, compression: input.compression, keepAlpha: keepAlphaFor(input.background, base.hasAlpha) });
}

/**
 * A variation of the image: hue, saturation and brightness moved by amounts drawn from the seed,
 * with a faint seed-drawn landscape over it, so each seed gives a visibly different take.
 */
export async function renderVariation(input: VariationInput): Promise<Buffer> {
  const { width, height } = input;
  assertPixelSize(width, height);
  const random = createRandom('', input.seed, 'variation');
  const hueShift = Math.round((random() < 0.5 ? -1 : 1) * (25 + random() * 45));
  const saturation = 0.85 + random() * 0.45;
  const brightness = 0.92 + random() * 0.16;
  const [base, scene] = await Promise.all([
    loadCover(input.image, width, height, 'image', (pipeline) => pipeline.modulate({ hue: hueShift, saturation, brightness })),
    renderSceneRaw({ prompt: '', seed: input.seed, width, height, transparent: true }),
  ]);
  const blended = overBlend(base.data, scene, new Uint8Array(width * height).fill(variationSceneCoverage));
  const image = sharp(blended, { raw: { width, height, channels: 4 } });
  return encodeImage(image, { format: input.format, compression: input.compression, keepAlpha: keepAlphaFor(input.background, base.hasAlpha) });
}
