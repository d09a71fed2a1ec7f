// Kling's image models (the "Kolors" family behind POST /v1/images/generations): which aspect ratios,
// resolutions and reference-image modes each `model_name` takes.
//
// Sources, all Kling's own API reference (mirrored verbatim in public repositories, as the live pages
// render client-side):
//   - request body and model list: https://app.klingai.com/global/dev/document-api/apiReference/model/imageGeneration
//     (mirrors: WHQ25/rawgenai docs/research/kling/image-generation.md, inference-sh/grid api/klingai/docs/05-image-generation.md)
//   - per-model abilities (能力地图): https://app.klingai.com/global/dev/document-api/apiReference/model/capabilityMap
//     (mirror: WHQ25/rawgenai docs/research/kling/capability-map.md, "图像生成" section)
//   - kling-v3 (Kolors V3.0, 1K/2K): Kling's price list ("Kolors V3.0 (1K/2K)", inference-sh/grid
//     api/klingai/pricing.md) and relays' copies of the enum ("kling-v1, kling-v1-5, kling-v2,
//     kling-v2-new, kling-v2-1, kling-v3", docs.fast-token.com/en/kling/image/KlingImageGenerations).

import { GatewayError } from '../../core/errors.js';
import type { SizeSpec } from '../shared/size-mapping.js';

/** How a model uses the one `image` field of /v1/images/generations. */
export type KlingReferenceMode =
  /** No image input. */
  | 'none'
  /** kling-v1 "图生图-通用垫图": the image as a base, strength `image_fidelity`. */
  | 'base'
  /** kling-v1-5: `image_reference` subject (角色特征) or face (人物长相) is required with an image. */
  | 'subject_or_face'
  /** kling-v2 / kling-v2-1: the image as a reference for the new picture ("restyle" at the image's own resolution on v2). */
  | 'reference';

export interface KlingModelProfile {
  /** `model_name` as Kling spells it. */
  modelName: string;
  /** `aspect_ratio` values the model renders (capability map). */
  aspectRatios: readonly string[];
  /** `resolution` values for text-to-image; image-to-image is 1k on every model (清晰度支持 table). */
  resolutions: readonly ('1k' | '2k')[];
  reference: KlingReferenceMode;
}

/** "Enum values: 16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3, 21:9" (request body, `aspect_ratio`). */
export const klingAspectRatios = ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'] as const;
/** kling-v1 renders every listed ratio but 21:9 (capability map, kling-v1 row: 21:9 "-"). */
const withoutUltrawide = klingAspectRatios.filter((ratio) => ratio !== '21:9');

const profiles: Readonly<Record<string, Omit<KlingModelProfile, 'modelName'>>> = {
  'kling-v1': { aspectRatios: withoutUltrawide, resolutions: ['1k'], reference: 'base' },
  'kling-v1-5': { aspectRatios: klingAspectRatios, resolutions: ['1k'], reference: 'subject_or_face' },
  // "清晰度支持: kling-2 文生图/图生图 1K/2K" — 2K for text-to-image; restyle keeps the input's resolution.
  'kling-v2': { aspectRatios: klingAspectRatios, resolutions: ['1k', '2k'], reference: 'reference' },
  // Not in the 清晰度 table: 1K only, as documented; the official create-task example sends it an image.
  'kling-v2-1': { aspectRatios: klingAspectRatios, resolutions: ['1k'], reference: 'reference' },
  // Kolors V3.0: text-to-image at 1K or 2K. Its image-to-image is not documented for this endpoint.
  'kling-v3': { aspectRatios: klingAspectRatios, resolutions: ['1k', '2k'], reference: 'none' },
};

export function klingModelNames(): string[] {
  return Object.keys(profiles);
}

/** The rules of one Kling model; an unknown name is refused before anything is sent. */
export function klingModelProfile(modelName: string): KlingModelProfile {
  const profile = profiles[modelName];
  if (profile === undefined) {
    throw new GatewayError('model_not_found', `'${modelName}' is not a Kling image model; expected one of ${klingModelNames().join(', ')}`, { param: 'model' });
  }
  return { modelName, ...profile };
}

/** The size mapping for a call: 1K/2K tiers (named by the square's edge) plus the model's ratios. */
export function klingSizeSpec(profile: KlingModelProfile, withImage: boolean): SizeSpec {
  const resolutions = withImage ? (['1k'] as const) : profile.resolutions;
  return { kind: 'tier', tiers: resolutions.map((name) => ({ name, maxEdge: name === '2k' ? 2048 : 1024 })), ratios: profile.aspectRatios };
}
