// DashScope's model families: which endpoint each model name calls, how it takes a size, how many
// images one call makes and how many input images an edit sends. Rules from Alibaba Cloud Model
// Studio's API references (sources beside each family).

import { GatewayError } from '../../core/errors.js';
import type { SizeSpec } from '../shared/size-mapping.js';

/**
 * - `text2image`: the asynchronous task API, `POST /api/v1/services/aigc/text2image/image-synthesis`
 *   with `X-DashScope-Async: enable` and `input.prompt`, then `GET /api/v1/tasks/{task_id}`.
 * - `multimodal`: the synchronous `POST /api/v1/services/aigc/multimodal-generation/generation` with
 *   `input.messages[0].content = [{image}…, {text}]`, answered with `output.choices[].message.content[].image`.
 */
export type DashScopeProtocol = 'text2image' | 'multimodal';

export interface DashScopeModelProfile {
  protocol: DashScopeProtocol;
  /** Sizes the model renders; undefined when it takes no `size` (qwen-image-edit keeps the input's). */
  sizeSpec: SizeSpec | undefined;
  /** `parameters.n` the model accepts at most. */
  maxImagesPerCall: number;
  /** Input images an edit sends; 0 for text-to-image-only models. */
  maxInputImages: number;
  /** Edit-only models (qwen-image-edit*) need at least one input image. */
  generates: boolean;
}

/**
 * qwen-image-max / -plus / qwen-image: "1664*928 (16:9), 1472*1104 (4:3), 1328*1328 (1:1),
 * 1104*1472 (3:4), 928*1664 (9:16)", "Number of images: Fixed at 1"
 * (https://www.alibabacloud.com/help/en/model-studio/qwen-image-api, size parameter).
 */
export const qwenImagePresetSizes = ['1664x928', '1472x1104', '1328x1328', '1104x1472', '928x1664'] as const;

/**
 * qwen-image-2.0 / -2.0-pro (and the newer numbered generations, 2.1, 3.0): "The total pixels must
 * be between 512*512 and 2048*2048" for text-to-image and editing (Qwen image generation and editing
 * API reference, https://www.alibabacloud.com/help/en/model-studio/qwen-image-generation-and-editing-api-reference);
 * n 1–6 and up to 3 input images for 2.0 (https://docs.qwencloud.com/api-reference/image-generation/qwen-image-editing).
 * Alibaba names no pixel multiple; the gateway keeps to a 16-pixel grid so every size it sends is valid.
 */
const qwenImageNumberedSize: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 512, maxEdge: 2048, minPixels: 512 * 512, maxPixels: 2048 * 2048 };

/**
 * qwen-image-edit-plus / -max: output "width*height", each side 512–2048, n 1–6, 1–3 input images
 * (https://docs.qwencloud.com/api-reference/image-generation/qwen-image-editing, parameters.size / n).
 */
const qwenImageEditSize: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 512, maxEdge: 2048 };

/**
 * wan2.6-t2i and wan2.5-t2i-preview: "Total pixels between 768*768 and 1440*1440, Aspect ratio:
 * [1:4, 4:1]"; wan2.2 and earlier: "Width and height are both between 512 and 1440 pixels"
 * (https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference, model overview).
 * The 1:4 ratio bound is the catalog's max_ratio; here the edges are what that ratio allows.
 */
const wanAreaSize: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 384, maxEdge: 2880, minPixels: 768 * 768, maxPixels: 1440 * 1440 };
const wanEdgeSize: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 512, maxEdge: 1440 };

/** Resolves a DashScope model name to its endpoint and rules; unknown names get their family's rules. */
export function dashScopeModelProfile(modelName: string): DashScopeModelProfile {
  // The name goes into a JSON body only, but a name that is not one DashScope could have is a config mistake.
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(modelName)) {
    throw new GatewayError('model_not_found', `'${modelName}' is not a valid DashScope model name`, { param: 'model' });
  }
  const name = modelName.toLowerCase();

  if (name.startsWith('qwen-image-edit')) {
    // "qwen-image-edit: n fixed at 1, one input image"; the -plus and -max lines take 1–3 and make 1–6
    // (the official QwenCloud CLI agrees: src/services/image-service.ts `maxImages`).
    const legacy = name === 'qwen-image-edit';
    return {
      protocol: 'multimodal',
      sizeSpec: legacy ? undefined : qwenImageEditSize,
      maxImagesPerCall: legacy ? 1 : 6,
      maxInputImages: legacy ? 1 : 3,
      generates: false,
    };
  }
  // qwen-image-max, qwen-image-plus(-2026-01-09) and qwen-image: fixed presets, one image. plus and
  // the original take the asynchronous task API ("Currently, only the qwen-image-plus and qwen-image
  // models support" it, qwen-image-api), which survives a gateway restart; max is synchronous only.
  if (/^qwen-image(-plus)?(-\d{4}-\d{2}-\d{2})?$/.test(name)) {
    return { protocol: 'text2image', sizeSpec: { kind: 'enumerated', sizes: qwenImagePresetSizes }, maxImagesPerCall: 1, maxInputImages: 0, generates: true };
  }
  if (/^qwen-image-max(-\d{4}-\d{2}-\d{2})?$/.test(name)) {
    return { protocol: 'multimodal', sizeSpec: { kind: 'enumerated', sizes: qwenImagePresetSizes }, maxImagesPerCall: 1, maxInputImages: 0, generates: true };
  }
  if (name.startsWith('qwen-image')) {
    // qwen-image-2.0(-pro) and later numbered generations: one model for text-to-image and editing.
    return { protocol: 'multimodal', sizeSpec: qwenImageNumberedSize, maxImagesPerCall: 6, maxInputImages: 3, generates: true };
  }

  const wan = /^wanx?(\d+)\.(\d+)-/.exec(name);
  if (wan !== null) {
    const version = Number(wan[1]) + Number(wan[2]) / 10;
    // Wan 2.6 and later speak the messages protocol; 2.5 and earlier only the task API
    // (text-to-image-v2-api-reference; the QwenCloud CLI's `usesAsyncText2Image` draws the same line).
    if (version >= 2.6 - 1e-9) {
      // wan2.6-image edits from 1–4 images ("you must input 1 to 4 images", wan2.6 image API reference).
      const edits = name.includes('-image');
      return { protocol: 'multimodal', sizeSpec: wanAreaSize, maxImagesPerCall: 4, maxInputImages: edits ? 4 : 0, generates: !edits };
    }
    const sizeSpec = version >= 2.5 - 1e-9 ? wanAreaSize : wanEdgeSize;
    // "n: 1–4" for every text2image Wan model (text-to-image-v2-api-reference, parameters.n).
    return { protocol: 'text2image', sizeSpec, maxImagesPerCall: 4, maxInputImages: 0, generates: true };
  }

  // Anything else DashScope adds is most likely on the newer messages protocol.
  return { protocol: 'multimodal', sizeSpec: qwenImageNumberedSize, maxImagesPerCall: 1, maxInputImages: 0, generates: true };
}
