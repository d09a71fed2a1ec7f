// What Ideogram 3.0 takes, from Ideogram's OpenAPI file (https://api.ideogram.ai/openapi.json, as
// published with https://developer.ideogram.ai/api-reference; copy read: tryAGI/Ideogram
// src/libs/Ideogram/openapi.json @796aa9f, June 2026): the resolution and aspect-ratio lists, and which
// endpoint each catalog model calls.

import { GatewayError } from '../../core/errors.js';

/** `ResolutionV3`: "The resolutions supported for Ideogram 3.0." Every edge is a multiple of 32. */
export const ideogramResolutions = [
  '512x1536', '576x1408', '576x1472', '576x1536', '640x1344', '640x1408', '640x1472', '640x1536', '704x1152',
  '704x1216', '704x1280', '704x1344', '704x1408', '704x1472', '736x1312', '768x1088', '768x1216', '768x1280',
  '768x1344', '800x1280', '832x960', '832x1024', '832x1088', '832x1152', '832x1216', '832x1248', '864x1152',
  '896x960', '896x1024', '896x1088', '896x1120', '896x1152', '960x832', '960x896', '960x1024', '960x1088',
  '1024x832', '1024x896', '1024x960', '1024x1024', '1088x768', '1088x832', '1088x896', '1088x960',
  '1120x896', '1152x704', '1152x832', '1152x864', '1152x896', '1216x704', '1216x768', '1216x832', '1248x832',
  '1280x704', '1280x768', '1280x800', '1312x736', '1344x640', '1344x704', '1344x768', '1408x576', '1408x640',
  '1408x704', '1472x576', '1472x640', '1472x704', '1536x512', '1536x576', '1536x640',
] as const;

/**
 * `AspectRatioV3`, with an `x` separator: "The aspect ratio to use for image generation, which
 * determines the image's resolution. Cannot be used in conjunction with resolution. Defaults to 1x1."
 */
export const ideogramAspectRatios = ['1x3', '3x1', '1x2', '2x1', '9x16', '16x9', '10x16', '16x10', '2x3', '3x2', '3x4', '4x3', '4x5', '5x4', '1x1'] as const;

/** `seed`: minimum 0, maximum 2147483647. */
export const ideogramLargestSeed = 2_147_483_647;

/** `num_images` / `NumImages`: minimum 1, maximum 8. */
export const ideogramMaxImagesPerCall = 8;

/**
 * What an upstream model name calls. `ideogram-v3` generates, and edits through `/edit` (with a mask)
 * or `/remix` (without); the two single-purpose endpoints are models of their own, edit-only, because
 * each needs an input image and neither fits a generation: `/reframe` ("Reframe a square image to a
 * chosen resolution") and `/replace-background` ("The foreground subject will be identified and kept,
 * while the background is replaced based on the prompt").
 */
export type IdeogramModelKind = 'v3' | 'reframe' | 'replace-background';

export function ideogramModelKind(upstreamModel: string): IdeogramModelKind {
  switch (upstreamModel) {
    case 'ideogram-v3':
      return 'v3';
    case 'ideogram-v3-reframe':
      return 'reframe';
    case 'ideogram-v3-replace-background':
      return 'replace-background';
    default:
      throw new GatewayError(
        'model_not_found',
        `Ideogram has no model ${JSON.stringify(upstreamModel)}: use ideogram-v3, ideogram-v3-reframe or ideogram-v3-replace-background.`,
        { param: 'model' },
      );
  }
}
