// The offline engine's partial images: progressively refined previews of a finished picture, so
// streaming clients see what an upstream's `partial_images` looks like without one.

import sharp from 'sharp';
import type { OutputFormat } from '../../core/ports/image-model.js';
import { pngLevelFor, qualityFor } from './render.js';

export interface PreviewInput {
  /** The final image, encoded. */
  final: Buffer;
  /** 0-based: which of `steps` previews this is; later ones are sharper. */
  step: number;
  steps: number;
  format: OutputFormat;
  compression?: number;
}

/** The smallest side a preview is drawn at before it is scaled back up. */
const minimumPreviewSide = 8;
/** Blur of the roughest conceivable preview, in pixels of the final image. */
const maximumBlurSigma = 24;

/**
 * A preview at the final size: the picture rendered at low resolution and blurred, both less so at
 * each step (step k of n keeps (k+1)/(n+1) of the detail), as diffusion and autoregressive models'
 * previews get clearer as they go. Alpha is kept when the final image has it.
 */
export async function renderPreview(input: PreviewInput): Promise<Buffer> {
  const metadata = await sharp(input.final).metadata();
  const width = metadata.width;
  const height = metadata.height;
  const detail = (input.step + 1) / (input.steps + 1);
  // Resolution grows with the square of detail so the first preview is a coarse colour sketch.
  const scale = detail * detail * 0.5;
  const smallWidth = Math.max(minimumPreviewSide, Math.round(width * scale));
  const smallHeight = Math.max(minimumPreviewSide, Math.round(height * scale));
  // Blurred while small: the same look as blurring at full size, at a fraction of the work.
  const sigma = Math.max(0.3, maximumBlurSigma * (1 - detail) * (Math.min(width, height) / 1024) * (smallWidth / width));
  const small = await sharp(input.final).resize(smallWidth, smallHeight, { fit: 'fill' }).blur(sigma).ensureAlpha().raw().toBuffer();
  const preview = sharp(small, { raw: { width: smallWidth, height: smallHeight, channels: 4 } }).resize(width, height, { fit: 'fill', kernel: 'cubic' });
  return encodePreview(preview, input.format, input.compression, metadata.hasAlpha);
}

/**
 * Encodes like the final image (format, compression, alpha) but with the encoders' fastest effort:
 * a preview is on screen for a moment, and a slow one would hold up the image it previews.
 */
function encodePreview(image: sharp.Sharp, format: OutputFormat, compression: number | undefined, hasAlpha: boolean): Promise<Buffer> {
  const keepAlpha = hasAlpha && format !== 'jpeg';
  const pipeline = keepAlpha ? image.ensureAlpha() : image.flatten({ background: { r: 255, g: 255, b: 255 } });
  switch (format) {
    case 'png':
      return pipeline.png({ compressionLevel: Math.min(pngLevelFor(compression), 3) }).toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality: qualityFor(compression) }).toBuffer();
    case 'webp':
      // Lossy alpha: encoding a lossless alpha plane is most of a webp's time.
      return pipeline.webp({ quality: qualityFor(compression), effort: 0, alphaQuality: 50 }).toBuffer();
    case 'svg':
      // Vector models do not stream; should one ever, a PNG preview still shows progress.
      return pipeline.png({ compressionLevel: 3 }).toBuffer();
  }
}
