// Renders a generation outcome as OpenAI's ImagesResponse body.

import type { GenerationOutcome } from './generate-images.js';
import type { ImageRequest } from './image-request.js';
import { formatSize } from './sizes.js';

export interface ImagesResponseBody {
  created: number;
  data: Array<{ url?: string; b64_json?: string; revised_prompt?: string }>;
  background?: 'transparent' | 'opaque';
  output_format?: string;
  quality?: string;
  size?: string;
  usage?: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
    input_tokens_details: { text_tokens: number; image_tokens: number };
  };
}

/** `urlFor` turns a blob key into an absolute signed URL. */
export function renderImagesResponse(
  outcome: Pick<GenerationOutcome, 'images' | 'usage' | 'createdAt'>,
  request: Pick<ImageRequest, 'responseFormat' | 'model' | 'background' | 'outputFormat' | 'quality' | 'size'>,
  urlFor: (blobKey: string) => string,
): ImagesResponseBody {
  const body: ImagesResponseBody = {
    created: outcome.createdAt,
    data: outcome.images.map((image) => {
      const item: { url?: string; b64_json?: string; revised_prompt?: string } =
        request.responseFormat === 'url' && image.blobKey ? { url: urlFor(image.blobKey) } : { b64_json: image.data.toString('base64') };
      if (image.revisedPrompt !== undefined) item.revised_prompt = image.revisedPrompt;
      return item;
    }),
  };
  // gpt-image models echo what they resolved, as OpenAI does; `auto` is reported as what it became.
  if (request.model.reports_output_details) {
    body.background = request.background === 'transparent' ? 'transparent' : 'opaque';
    body.output_format = request.outputFormat;
    if (request.quality !== undefined) body.quality = request.quality;
    body.size = formatSize(request.size);
  }
  if (outcome.usage) {
    const textTokens = outcome.usage.inputTextTokens ?? outcome.usage.inputTokens;
    body.usage = {
      input_tokens: outcome.usage.inputTokens,
      output_tokens: outcome.usage.outputTokens,
      total_tokens: outcome.usage.inputTokens + outcome.usage.outputTokens,
      input_tokens_details: { text_tokens: textTokens, image_tokens: outcome.usage.inputImageTokens ?? 0 },
    };
  }
  return body;
}
