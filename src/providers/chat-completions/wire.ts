// The chat-completions wire format as image models use it: the request an Images API call becomes, and
// the three shapes relays put the generated images in, read with minimal checks.
//
// Sources:
// - OpenRouter, https://openrouter.ai/docs/guides/overview/multimodal/image-generation: "send a request to
//   the /api/v1/chat/completions endpoint with the modalities parameter set to include both "image" and
//   "text""; `image_config.aspect_ratio` (1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9) and
//   `image_config.image_size` (1K, 2K, 4K, "currently only supported by Gemini models"); images come back
//   in `choices[].message.images[].image_url.url` as base64 data URLs.
// - @openrouter/sdk 1.3.19 (esm/models): `ChatRequest` has `modalities`, `image_config`, `seed`, `user`
//   and no `n`; `ChatAssistantMessage.images: {image_url: {url}}[]` ("URL or base64-encoded data of the
//   generated image"); `ChatFinishReasonEnum` tool_calls | stop | length | content_filter | error;
//   `ChatUsage` {prompt_tokens, completion_tokens, total_tokens, cost}.
// - OpenRouter image inputs, https://openrouter.ai/docs/guides/overview/multimodal/images: "The image_url
//   can either be a URL or a base64-encoded image … we recommend sending the text prompt first, then the images".
// - new-api (QuantumNous/new-api service/relayconvert/internal/gemini_chat/to_oai_chat_resp.go): Gemini
//   images relayed as `![image](data:<mime>;base64,<data>)` inside a string `message.content`, parts joined
//   by "\n"; Gemini's SAFETY, PROHIBITED_CONTENT, BLOCKLIST, SPII … finish reasons become `content_filter`.
// - LiteLLM (BerriAI/litellm docs/my-website/docs/completion/image_generation_chat.md): `message.images`
//   as OpenRouter, each `{image_url: {url: "data:image/png;base64,…"}, index, type: "image_url"}`.
// - OpenAI content parts: an assistant `content` array may hold `{type: "image_url", image_url: {url}}`
//   (the SDK's `ChatContentItems`), which some relays use for images.

import { GatewayError } from '../../core/errors.js';
import type { InputImage, ProviderImage } from '../../core/ports/image-model.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export interface ChatImageRequest {
  model: string;
  prompt: string;
  images: InputImage[];
  modalities: readonly string[];
  imageConfig: Record<string, string> | undefined;
  seed: number | undefined;
  user: string | undefined;
}

/** The body of `POST /chat/completions`. A generation sends the prompt as a plain string, an edit as text then image parts. */
export function buildChatBody(request: ChatImageRequest): Record<string, unknown> {
  const content =
    request.images.length === 0
      ? request.prompt
      : [{ type: 'text', text: request.prompt }, ...request.images.map((image) => ({ type: 'image_url', image_url: { url: dataUrlOf(image) } }))];
  const body: Record<string, unknown> = { model: request.model, messages: [{ role: 'user', content }], modalities: [...request.modalities], stream: false };
  if (request.imageConfig !== undefined) body['image_config'] = request.imageConfig;
  if (request.seed !== undefined) body['seed'] = request.seed;
  if (request.user !== undefined) body['user'] = request.user;
  return body;
}

export function dataUrlOf(image: Pick<InputImage, 'data' | 'mediaType'>): string {
  return `data:${image.mediaType};base64,${image.data.toString('base64')}`;
}

export interface ChatImageUsage {
  promptTokens: number;
  completionTokens: number;
  /** OpenRouter's `usage.cost` in credits (USD); other relays leave it out. */
  cost: number | undefined;
}

export interface ChatImageAnswer {
  id: string | undefined;
  finishReason: string | undefined;
  /** OpenRouter's `native_finish_reason`: the upstream model's own word (IMAGE_SAFETY …). */
  nativeFinishReason: string | undefined;
  images: ProviderImage[];
  /** The model's prose without the image links, shown when it answered without an image. */
  text: string;
  refusal: string | undefined;
  usage: ChatImageUsage | undefined;
  /** An error a relay put in a 200 body (OpenRouter: errors "while the LLM is producing the output"). */
  error: { code: number | string | undefined; message: string; metadata: Record<string, unknown> | undefined } | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** Reads one chat completion. `provider` names the channel's kind in error messages. */
export function parseChatCompletion(provider: string, body: Buffer): ChatImageAnswer {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(provider, 'the body is not valid JSON');
  }
  if (!isRecord(json)) throw invalidUpstreamResponse(provider, 'the answer is not a JSON object');

  const usage = isRecord(json['usage'])
    ? {
        promptTokens: count(json['usage']['prompt_tokens']),
        completionTokens: count(json['usage']['completion_tokens']),
        cost: typeof json['usage']['cost'] === 'number' && json['usage']['cost'] >= 0 ? json['usage']['cost'] : undefined,
      }
    : undefined;
  const error = readError(json['error']);
  const choices = json['choices'];
  if (choices === undefined && error !== undefined) {
    return { id: optionalString(json['id']), finishReason: undefined, nativeFinishReason: undefined, images: [], text: '', refusal: undefined, usage, error };
  }
  if (!Array.isArray(choices)) throw invalidUpstreamResponse(provider, 'choices is not a list');
  const choice: unknown = choices[0];
  if (choice === undefined) {
    return { id: optionalString(json['id']), finishReason: undefined, nativeFinishReason: undefined, images: [], text: '', refusal: undefined, usage, error };
  }
  if (!isRecord(choice) || !isRecord(choice['message'])) throw invalidUpstreamResponse(provider, 'choices[0].message is not an object');
  const message = choice['message'];
  const choiceError = readError(choice['error']) ?? error;

  const images: ProviderImage[] = [];
  const texts: string[] = [];
  const rawImages = message['images'] ?? [];
  if (!Array.isArray(rawImages)) throw invalidUpstreamResponse(provider, 'message.images is not a list');
  rawImages.forEach((entry, index) => {
    const url = isRecord(entry) && isRecord(entry['image_url']) ? entry['image_url']['url'] : undefined;
    if (typeof url !== 'string') throw invalidUpstreamResponse(provider, `message.images[${index}].image_url.url is missing`);
    images.push(imageFromUrl(provider, url, `message.images[${index}]`));
  });

  const content = message['content'];
  if (typeof content === 'string') {
    texts.push(collectMarkdownImages(provider, content, images));
  } else if (Array.isArray(content)) {
    content.forEach((part, index) => {
      if (!isRecord(part)) return;
      if (part['type'] === 'image_url') {
        const url = isRecord(part['image_url']) ? part['image_url']['url'] : part['image_url'];
        if (typeof url !== 'string') throw invalidUpstreamResponse(provider, `message.content[${index}].image_url.url is missing`);
        images.push(imageFromUrl(provider, url, `message.content[${index}]`));
      } else if (typeof part['text'] === 'string') {
        texts.push(collectMarkdownImages(provider, part['text'], images));
      }
    });
  } else if (content !== undefined && content !== null) {
    throw invalidUpstreamResponse(provider, 'message.content is neither text nor a list of parts');
  }

  return {
    id: optionalString(json['id']),
    finishReason: optionalString(choice['finish_reason']),
    nativeFinishReason: optionalString(choice['native_finish_reason']),
    images,
    text: texts.join(' ').replace(/\s+/g, ' ').trim(),
    refusal: optionalString(message['refusal']) || undefined,
    usage,
    error: choiceError,
  };
}

function readError(value: unknown): ChatImageAnswer['error'] {
  if (!isRecord(value)) return undefined;
  const code = value['code'];
  return {
    code: typeof code === 'number' || typeof code === 'string' ? code : undefined,
    message: optionalString(value['message']) ?? '',
    metadata: isRecord(value['metadata']) ? value['metadata'] : undefined,
  };
}

/**
 * Markdown image links `![alt](url)` whose target is a data URL or an http(s) URL are results; the
 * rest of the text is returned. Other links (a page the model cites) stay text.
 */
function collectMarkdownImages(provider: string, text: string, images: ProviderImage[]): string {
  const pattern = /!\[[^\]\n]*\]\(\s*(data:image\/[^)\s]+|https?:\/\/[^)\s]+)\s*\)/g;
  return text.replace(pattern, (_whole, url: string) => {
    images.push(imageFromUrl(provider, url, 'a markdown image in message.content'));
    return ' ';
  });
}

/** A data URL becomes bytes; an http(s) URL is left for the core to download through the guarded client. */
function imageFromUrl(provider: string, url: string, where: string): ProviderImage {
  const trimmed = url.trim();
  if (/^https?:\/\//i.test(trimmed)) return { kind: 'url', url: trimmed };
  const match = /^data:(image\/[a-z0-9.+-]+)(?:;[^,;]*)*;base64,(.*)$/is.exec(trimmed);
  if (match === null) throw invalidUpstreamResponse(provider, `${where} is neither a base64 data URL nor an http(s) URL`);
  const [, mediaType = '', payload = ''] = match;
  return { kind: 'bytes', data: decodeBase64(provider, payload, where), mediaType: mediaType.toLowerCase() };
}

/** Buffer.from skips characters it cannot read, so the round trip is checked: junk is an invalid answer, not an image. */
function decodeBase64(provider: string, text: string, where: string): Buffer {
  const canonical = text.replace(/[\s=]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Buffer.from(canonical, 'base64');
  if (canonical.length === 0 || bytes.length === 0 || bytes.toString('base64').replace(/=/g, '') !== canonical) {
    throw invalidUpstreamResponse(provider, `${where} is not valid base64`);
  }
  return bytes;
}

/** OpenRouter's moderation metadata on a 403: `{reasons: string[], flagged_input, provider_name, model_slug}`. */
export function moderationReasonsOf(metadata: Record<string, unknown> | undefined): string[] | undefined {
  const reasons = metadata?.['reasons'];
  if (!Array.isArray(reasons) && typeof metadata?.['flagged_input'] !== 'string') return undefined;
  return Array.isArray(reasons) ? reasons.filter((reason): reason is string => typeof reason === 'string') : [];
}

/** Reads `{"error": {code, message, metadata}}` (OpenRouter) or OpenAI's `{"error": {message, type, code}}`. */
export function parseErrorBody(body: Buffer): ChatImageAnswer['error'] {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(json) ? readError(json['error']) : undefined;
  } catch {
    return undefined;
  }
}

/** The model wrote but drew nothing; asking again the same way rarely helps, and nothing is charged. */
export function noImageError(provider: string, model: string, answer: ChatImageAnswer, said: string): GatewayError {
  const reason = answer.finishReason ?? 'no finish reason';
  return new GatewayError('upstream_error', `${provider} model ${model} answered without an image (finish reason ${reason}).${said}`, { retryable: false });
}
