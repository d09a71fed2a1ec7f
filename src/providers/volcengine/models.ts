// What each Seedream model on Volcengine Ark / BytePlus ModelArk takes: its size bounds, whether it
// reads input images (and how many), and which of the Ark-only fields it accepts.
//
// Source: Volcengine Ark "图片生成 API" (https://www.volcengine.com/docs/82379/1541523), read through two
// copies of the page: its Seedream 4.0–4.5 edition (the field list, image limits, seed/guidance scope,
// "生成的图片为 jpeg 格式", the 24-hour URL) and its 2026 edition with Seedream 5.0-lite (per-model size
// ranges and `output_format`); cross-checked against the official SDK, volcengine/volcengine-python-sdk
// `volcenginesdkarkruntime/resources/images/images.py` (the request fields) and `types/images/images.py`.

import type { SizeSpec } from '../shared/size-mapping.js';

export interface SeedreamProfile {
  /** Human name for messages and docs. */
  name: string;
  /**
   * Free `WxH` within the documented total-pixel range; the edges follow from it and from
   * `宽高比取值范围 [1/16, 16]` (the catalog's `max_ratio` refuses longer shapes before any call).
   */
  sizeSpec: Extract<SizeSpec, { kind: 'pixels' }>;
  /** Input images per call (`image`); 0 = the model does not read `image` (text-to-image only). */
  maxInputImages: number;
  /** `seed` and `guidance_scale` are read (“仅 doubao-seedream-3.0-t2i、doubao-seededit-3.0-i2i 支持该参数”). */
  seedAndGuidance: boolean;
  /** `sequential_image_generation`, `stream`, `optimize_prompt_options` (“仅 doubao-seedream-4.5、4.0 支持”; 5.0-lite too). */
  sequential: boolean;
  /** `output_format` png|jpeg (“Only for doubao-seedream-5.0-lite”); the others always answer jpeg. */
  outputFormats: readonly ('png' | 'jpeg')[];
}

// The docs give a pixel range and a ratio range, no edge granularity (their own examples include
// 1760x2368 and 3104x1312), so any whole WxH inside them is sent as asked.
const pixels = (minPixels: number, maxPixels: number, minEdge: number, maxEdge: number): SeedreamProfile['sizeSpec'] => ({
  kind: 'pixels',
  multiple: 1,
  minEdge,
  maxEdge,
  minPixels,
  maxPixels,
});

/** Seedream 5.0-lite: "Total pixel range: [2560x1440=3686400, 3072x3072x1.1025=10404496]", 2K/3K tiers. */
const seedream50Lite: SeedreamProfile = {
  name: 'Seedream 5.0 lite',
  sizeSpec: pixels(3_686_400, 10_404_496, 480, 12_902),
  maxInputImages: 14,
  seedAndGuidance: false,
  sequential: true,
  outputFormats: ['png', 'jpeg'],
};

/** Seedream 4.5: "Total pixel range: [2560x1440=3686400, 4096x4096=16777216]", 2K/4K tiers. */
const seedream45: SeedreamProfile = {
  name: 'Seedream 4.5',
  sizeSpec: pixels(3_686_400, 16_777_216, 480, 16_384),
  maxInputImages: 14,
  seedAndGuidance: false,
  sequential: true,
  outputFormats: ['jpeg'],
};

/** Seedream 4.0: "总像素取值范围 [1280x720, 4096x4096]", 1K/2K/4K tiers. */
const seedream40: SeedreamProfile = {
  name: 'Seedream 4.0',
  sizeSpec: pixels(921_600, 16_777_216, 240, 16_384),
  maxInputImages: 14,
  seedAndGuidance: false,
  sequential: true,
  outputFormats: ['jpeg'],
};

/** Seedream 3.0 t2i: "Specify width x height pixels … Range: [512x512, 2048x2048]"; text-to-image only. */
const seedream30: SeedreamProfile = {
  name: 'Seedream 3.0 t2i',
  sizeSpec: { kind: 'pixels', multiple: 1, minEdge: 512, maxEdge: 2048 },
  maxInputImages: 0,
  seedAndGuidance: true,
  sequential: false,
  outputFormats: ['jpeg'],
};

const families: readonly { pattern: RegExp; profile: SeedreamProfile }[] = [
  // Volcengine ids carry `doubao-`, BytePlus ModelArk ids do not (`seedream-4-0-250828`).
  { pattern: /^(doubao-)?seedream-5-0(-lite)?(-\d+)?$/i, profile: seedream50Lite },
  { pattern: /^(doubao-)?seedream-4-5(-\d+)?$/i, profile: seedream45 },
  { pattern: /^(doubao-)?seedream-4-0(-\d+)?$/i, profile: seedream40 },
  { pattern: /^(doubao-)?seedream-3-0-t2i(-\d+)?$/i, profile: seedream30 },
];

/**
 * The profile of an upstream model name. An inference endpoint id (`ep-…`) says nothing about its
 * model: the channel names it with `options.endpoint_models` (`{ep-2025…: doubao-seedream-4-5-251128}`),
 * else it is taken as Seedream 4.0, the widest size range.
 */
export function seedreamProfile(model: string, endpointModels: Readonly<Record<string, string>> = {}): SeedreamProfile {
  const named = endpointModels[model] ?? model;
  return families.find((family) => family.pattern.test(named))?.profile ?? seedream40;
}
