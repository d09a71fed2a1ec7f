// Mask conventions: OpenAI's edit masks mark the area to repaint with transparency ("fully
// transparent areas … indicate where image should be edited", openai-node ImageEditParams.mask);
// several upstreams (Stability, Recraft) take a greyscale mask instead, white meaning repaint.

import sharp from 'sharp';
import type { InputImage } from '../../core/ports/image-model.js';

/**
 * A greyscale PNG, white where the OpenAI mask is transparent: its alpha channel inverted. A mask
 * without alpha is taken to be a greyscale mask already.
 */
export async function whiteRepaintMask(mask: InputImage): Promise<Buffer> {
  const metadata = await sharp(mask.data).metadata();
  if (!metadata.hasAlpha) return sharp(mask.data).toColourspace('b-w').png().toBuffer();
  return sharp(mask.data).extractChannel('alpha').negate().toColourspace('b-w').png().toBuffer();
}
