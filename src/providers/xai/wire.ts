// The xAI Images wire format. Sources: xAI's OpenAPI file (https://api.x.ai/api-docs/openapi.json, as
// generated into the official SDK, xai-org/xai-sdk-ts src/generated/types.ts: GenerateImageRequest,
// EditImageRequest, ImageUrl, ImageAspectRatio, ImageResolution, GeneratedImage, MediaUsage), the SDK's
// own request types (src/types.ts: "`quality` … Only supported by `grok-imagine-image-2.0`") and error
// handling (test/errors.test.ts: an error body `{"code": "invalid-argument", "error": "<message>"}`),
// and docs.x.ai's image guide ("The OpenAI SDK's images.edit() method is not supported for image
// editing because it uses multipart/form-data, while the xAI API requires application/json").

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ProviderWarning } from '../../core/ports/image-model.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, extractUpstreamMessage, moderationError, outOfFundsError, sanitizeUpstreamMessage, saysOutOfFunds } from '../shared/upstream-errors.js';

export const xaiProviderName = 'xai';

/** ImageAspectRatio members with whole numbers (the gateway's ratios are `W:H` integers; 9:19.5 and 19.5:9 are left out). */
export const xaiAspectRatios = ['1:1', '3:4', '4:3', '9:16', '16:9', '2:3', '3:2', '9:20', '20:9', '1:2', '2:1', '21:9', '5:2'] as const;
/** ImageResolution. */
const resolutions = ['1k', '1.5k', '2k'];
/** `quality` "Defaults to `auto`. Only supported by `grok-imagine-image-2.0`" (SDK src/types.ts). */
const qualityModels = /^grok-imagine-image-2\.0/;
const qualities = ['low', 'medium', 'auto'];

/**
 * The JSON body for one generation or edit. OpenAI's `size`, `style`, `quality` (but on 2.0) and
 * `seed` have no xAI field — xAI answers `Argument not supported: size` — so they are never sent: the
 * gateway has already turned the size into `aspect_ratio`, and the rest are warnings.
 */
export function buildXaiBody(options: ImageCallOptions, edit: boolean): { body: Record<string, unknown>; warnings: ProviderWarning[] } {
  const warnings: ProviderWarning[] = [];
  const unsupported = (param: string, value: unknown) =>
    warnings.push({ type: 'unsupported', param, message: `${param} ${JSON.stringify(value)} is not supported by xAI's ${options.model} and was ignored.` });
  const body: Record<string, unknown> = { model: options.model, prompt: options.prompt, n: options.n, response_format: 'b64_json' };

  if ((xaiAspectRatios as readonly string[]).includes(options.aspectRatio)) body['aspect_ratio'] = options.aspectRatio;
  else warnings.push({ type: 'mapped', param: 'aspect_ratio', message: `aspect_ratio ${options.aspectRatio} is not one of xAI's; xAI chose the shape ('auto').` });

  if (options.quality !== undefined) {
    if (qualityModels.test(options.model) && qualities.includes(options.quality)) body['quality'] = options.quality;
    else unsupported('quality', options.quality);
  }
  if (options.style !== undefined) unsupported('style', options.style);
  if (options.seed !== undefined) unsupported('seed', options.seed);
  if (options.background !== undefined && options.background !== 'auto') unsupported('background', options.background);
  if (options.user !== undefined) body['user'] = options.user;

  for (const [field, value] of Object.entries(options.providerOptions)) {
    if (field === 'resolution') {
      if (typeof value !== 'string' || !resolutions.includes(value)) {
        throw new GatewayError('invalid_value', `Invalid value for 'resolution': ${JSON.stringify(value)}. Supported values are: ${resolutions.map((item) => `'${item}'`).join(', ')}.`, { param: 'resolution' });
      }
      body['resolution'] = value;
    } else {
      unsupported(field, value);
    }
  }

  if (edit) {
    if (options.mask !== undefined) {
      throw new GatewayError('invalid_value', `${options.model} edits by prompt and takes no mask (xAI's edit endpoint has none); send the edit without a mask.`, { param: 'mask' });
    }
    const inputs = options.images.map((image) => ({ url: `data:${image.mediaType};base64,${image.data.toString('base64')}` }));
    // `image` for one input; `images` "for multi-reference editing. Mutually exclusive with `image`".
    if (inputs.length === 1) body['image'] = inputs[0];
    else body['images'] = inputs;
  }
  return { body, warnings };
}

/**
 * xAI's failures: 401 a bad key, 403 permission (and, on an account without credit, words about
 * credits or spending limits), 429 rate limit, 5xx/529 overloaded. A refusal that names moderation is
 * the gateway's moderation error.
 */
export function errorFromXaiResponse(response: HttpResponse, model: string, secrets: string[]): GatewayError {
  const text = sanitizeUpstreamMessage(extractUpstreamMessage(response.body), secrets);
  // The OpenAPI file answers an invalid key with 400 ("an invalid API key is provided"): the channel's
  // key is at fault, not the client's request.
  if (response.status === 400 && /incorrect api key|invalid api key/i.test(text)) {
    return new GatewayError('upstream_auth_failed', `${xaiProviderName} rejected the gateway's credentials (HTTP 400); the channel's API key needs attention`, {
      retryable: false,
      cause: { provider: xaiProviderName, status: response.status },
    });
  }
  if (response.status >= 400 && response.status < 500 && response.status !== 429) {
    if (saysOutOfFunds(text) || /used all available credits|spending limit|(?:doesn't|does not) have any credits/i.test(text)) {
      return outOfFundsError(xaiProviderName, response.status);
    }
    if (/moderation|content polic|safety/i.test(text)) {
      return moderationError({ provider: xaiProviderName, model, stage: /generated|output|result/i.test(text) ? 'output' : 'input' });
    }
  }
  return errorFromUpstreamResponse(xaiProviderName, response, { secrets, ...(text === '' ? {} : { message: text }) });
}
