// The Seedream ImageModel: one synchronous `POST {base}/images/generations` per image (or per image set,
// when the client asks for one with `sequential_image_generation: "auto"`), generations with
// the prompt alone, edits with the input images as `image` (data URLs; Seedream 4.x/5.0 take up to 14
// references). Ark answers with a URL valid for 24 hours, which the gateway downloads through its
// guarded client and re-hosts; nothing runs upstream after the answer, so there is nothing to resume.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize } from '../shared/size-mapping.js';
import type { ProviderSettings } from '../shared/types.js';
import { requestUpstream } from '../shared/upstream-errors.js';
import { seedreamProfile } from './models.js';
import { buildBody, errorFromArkResponse, errorFromFailures, parseImagesResponse, toDataUrl, volcengineProviderName } from './wire.js';

/** China (Beijing) region; BytePlus ModelArk's international one is https://ark.ap-southeast.bytepluses.com/api/v3. */
export const volcengineDefaultBaseURL = 'https://ark.cn-beijing.volces.com/api/v3';
/** A 4K image takes well under a minute; Ark holds the connection until it is done. */
const defaultTimeoutMs = 180_000;
/** One image as base64 when an operator forces b64_json is ~25 MB at 4K; a url answer is a few hundred bytes. */
const maxResponseBytes = 64 * 1024 * 1024;
/** `sequential_image_generation_options.max_images` "取值范围 [1, 15]" (docs/providers.md, Seedream). */
const seedreamMaxImagesPerSet = 15;

export interface VolcengineChannelOptions {
  /** Sent as `watermark` unless the request sets it (Ark's default is true: an "AI生成" mark). */
  watermark: boolean;
  /** Inference endpoint id (`ep-…`) → the model behind it, so its size and field rules are known. */
  endpointModels: Record<string, string>;
}

export function readVolcengineOptions(channel: string, options: Record<string, unknown> = {}): VolcengineChannelOptions {
  const watermark = options['watermark'] ?? false;
  if (typeof watermark !== 'boolean') throw new TypeError(`channel ${channel}: options.watermark must be true or false`);
  const endpointModels = options['endpoint_models'] ?? {};
  if (typeof endpointModels !== 'object' || endpointModels === null || Array.isArray(endpointModels) || !Object.values(endpointModels).every((value) => typeof value === 'string')) {
    throw new TypeError(`channel ${channel}: options.endpoint_models must map endpoint ids to model names`);
  }
  return { watermark, endpointModels: endpointModels as Record<string, string> };
}

export function createVolcengineImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const baseURL = (settings.baseURL || volcengineDefaultBaseURL).replace(/\/+$/, '');
  const channelOptions = readVolcengineOptions(settings.channel, settings.options);
  const profile = seedreamProfile(modelId, channelOptions.endpointModels);
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  const secrets = [settings.apiKey];

  async function call(operation: ImageOperation, options: ImageCallOptions): Promise<ImageCallResult> {
    const sized = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, profile.sizeSpec);
    if (sized.value.kind !== 'pixels') throw new Error('Seedream sizes are pixels');
    const { body, warnings } = buildBody({ options, profile, width: sized.value.width, height: sized.value.height, watermark: channelOptions.watermark });
    const allWarnings: ProviderWarning[] = [...sized.warnings, ...warnings];
    if (operation === 'edit') {
      if (options.images.length === 0) throw new GatewayError('invalid_value', 'An edit needs an image.', { param: 'image' });
      if (options.images.length > profile.maxInputImages) {
        throw new GatewayError('invalid_value', `${profile.name} takes at most ${profile.maxInputImages} input images; got ${options.images.length}.`, { param: 'image' });
      }
      // One image is sent as a string, several as an array (`image string/array`).
      body['image'] = options.images.length === 1 ? toDataUrl(options.images[0]!) : options.images.map(toDataUrl);
      if (options.mask !== undefined) {
        allWarnings.push({ type: 'unsupported', param: 'mask', message: 'Seedream edits follow the prompt over the whole image; the mask was not sent.' });
      }
    }
    const response = await requestUpstream(settings.http, volcengineProviderName, `${baseURL}/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.apiKey}` },
      json: body,
      signal: options.abortSignal,
      timeoutMs,
      maxBytes: maxResponseBytes,
    });
    if (response.status < 200 || response.status >= 300) throw errorFromArkResponse(response, options.model, secrets);
    const parsed = parseImagesResponse(response, options.model, secrets);
    if (parsed.images.length === 0) throw errorFromFailures(parsed.failures, response, options.model, secrets);
    // Ark goes on with the rest of a set when one image fails its review: the client learns which did not come.
    if (parsed.failures.length > 0) {
      const codes = [...new Set(parsed.failures.map((failure) => failure.code))].join(', ');
      allWarnings.push({ type: 'other', message: `${parsed.failures.length} image(s) of the set were not delivered (${codes}) and are not charged.` });
    }
    const upstreamRequestId = response.headers['x-request-id'];
    return {
      images: parsed.images.slice(0, options.n),
      warnings: allWarnings,
      ...(parsed.usage === undefined ? {} : { usage: parsed.usage }),
      ...(upstreamRequestId === undefined ? {} : { upstreamRequestId }),
    };
  }

  const operations: readonly ImageOperation[] = profile.maxInputImages > 0 ? ['generate', 'edit'] : ['generate'];
  return {
    specificationVersion: 'v1',
    provider: volcengineProviderName,
    modelId,
    // Exactly n images takes n calls: a set (`sequential_image_generation: auto`) is sized by the model,
    // so it is asked for only when the client asks for a set, as one call of up to 15 images.
    maxImagesPerCall: 1,
    ...(profile.sequential ? { maxImagesPerSet: seedreamMaxImagesPerSet } : {}),
    operations,
    generate: (options) => call('generate', options),
    ...(operations.includes('edit') ? { edit: (options: ImageCallOptions) => call('edit', options) } : {}),
  };
}
