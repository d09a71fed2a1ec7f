// What Ideogram 3.0 answers, read as its OpenAPI file describes it (https://api.ideogram.ai/openapi.json,
// `ImageGenerationResponseV3`, `ImageGenerationObjectV3`, `GenerateImageSafetyError`). Only the fields
// used are read; anything else in the body is ignored.

import type { HttpResponse } from '../shared/types.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const ideogramProviderName = 'ideogram';

export interface IdeogramImage {
  /** `null` or absent when the image failed Ideogram's safety check ("If false, the url field will be empty"). */
  url: string | undefined;
  isImageSafe: boolean;
  /** "The prompt used for the generation. This may be different from the original prompt" (MagicPrompt). */
  prompt: string | undefined;
  resolution: string | undefined;
  seed: number | undefined;
}

/** A 200 answer: `{"created": <date-time>, "data": [ImageGenerationObjectV3, …]}`, `data` required. */
export function parseGenerationResponse(response: HttpResponse): IdeogramImage[] {
  let body: unknown;
  try {
    body = JSON.parse(response.body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(ideogramProviderName, 'the body is not JSON');
  }
  if (!isRecord(body) || !Array.isArray(body['data'])) throw invalidUpstreamResponse(ideogramProviderName, 'the answer has no data list');
  return body['data'].map((item, index) => {
    if (!isRecord(item) || typeof item['is_image_safe'] !== 'boolean') {
      throw invalidUpstreamResponse(ideogramProviderName, `data[${index}] has no is_image_safe`);
    }
    const url = item['url'];
    if (url !== undefined && url !== null && (typeof url !== 'string' || !isHttpUrl(url))) {
      throw invalidUpstreamResponse(ideogramProviderName, `data[${index}].url is not an http(s) URL`);
    }
    return {
      url: typeof url === 'string' && url !== '' ? url : undefined,
      isImageSafe: item['is_image_safe'],
      prompt: typeof item['prompt'] === 'string' ? item['prompt'] : undefined,
      resolution: typeof item['resolution'] === 'string' ? item['resolution'] : undefined,
      seed: typeof item['seed'] === 'number' ? item['seed'] : undefined,
    };
  });
}

/** The `error` text of an error body (`{"error": "…"}`, as `GenerateImageSafetyError`), or undefined. */
export function ideogramErrorText(body: Buffer): string | undefined {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(json) && typeof json['error'] === 'string' ? json['error'] : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
