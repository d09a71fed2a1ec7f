// A local fake of image models behind `POST …/chat/completions`: OpenRouter's API, and relays that answer
// in their own shapes (new-api's markdown data images, OpenAI content parts, hosted links).
//
// Its rules, each from a primary source:
// - Route and auth: OpenRouter serves `POST https://openrouter.ai/api/v1/chat/completions` with
//   `Authorization: Bearer <key>` (@openrouter/sdk 1.3.19 lib/config.js ServerList
//   "https://openrouter.ai/api/v1", funcs/chatSend.js path "/chat/completions"). Relays serve `/v1/chat/completions`.
//   The fake answers any path ending in `/chat/completions`.
// - Error bodies (https://openrouter.ai/docs/api/reference/errors-and-debugging): `{"error": {code,
//   message, metadata?}}` with "the same status code as error.code"; "401: Invalid credentials …";
//   "402: Your account or API key has insufficient credits. Add more credits and retry the request.";
//   "403: Your chosen model requires moderation and your input was flagged", metadata
//   `ModerationErrorMetadata {reasons: string[], flagged_input: string (≤100 characters), provider_name,
//   model_slug}`; "429: You are being rate limited"; "502: Your chosen model is down or we received an
//   invalid response from it". Otherwise "the returned HTTP response status will be 200 and any error
//   occurred while the LLM is producing the output will be emitted in the response body".
// - Request (image generation guide, https://openrouter.ai/docs/guides/overview/multimodal/image-generation):
//   `modalities` must include "image" for an image to be made; `image_config.aspect_ratio` is one of
//   1:1 → 1024×1024 (default), 2:3 → 832×1248, 3:2 → 1248×832, 3:4 → 864×1184, 4:3 → 1184×864,
//   4:5 → 896×1152, 5:4 → 1152×896, 9:16 → 768×1344, 16:9 → 1344×768, 21:9 → 1536×672;
//   `image_config.image_size` 1K (default), 2K, 4K, "currently only supported by Gemini models" (the
//   fake doubles / quadruples the 1K edges, as Gemini 3's 2K and 4K sizes do). ChatRequest has no `n`
//   (@openrouter/sdk models/chatrequest.d.ts), so one answer carries one image.
// - Image inputs (https://openrouter.ai/docs/guides/overview/multimodal/images): `image_url` parts of a
//   user message, "either a URL or a base64-encoded image", "the text prompt first, then the images".
// - Response (`ChatResult` in @openrouter/sdk models/chatresult.d.ts): `{id, object: "chat.completion",
//   created, model, system_fingerprint, choices: [{index, finish_reason, message: {role: "assistant",
//   content, images: [{type: "image_url", image_url: {url: "data:image/png;base64,…"}}]}}], usage:
//   {prompt_tokens, completion_tokens, total_tokens, cost}}`; finish reasons stop | length |
//   content_filter | error | tool_calls (`ChatFinishReasonEnum`), the model's own in `native_finish_reason`.
// - new-api flavour (QuantumNous/new-api service/relayconvert/internal/gemini_chat/to_oai_chat_resp.go):
//   no `images`; `content` is one string with the text parts and `![image](data:<mime>;base64,<data>)`
//   joined by "\n"; Gemini's SAFETY/PROHIBITED_CONTENT/IMAGE_SAFETY … become `finish_reason: "content_filter"`.
// - `parts` flavour: the assistant `content` as OpenAI content parts, the image as `{type: "image_url", image_url: {url}}`.
// - `link` flavour: relays that host the image answer a markdown link `![image](https://…/file.png)`;
//   the fake serves it under /files/ (expiring with `resultUrlTtlMs`, then 404).
//
// Prices in `usage.cost`: gemini-2.5-flash-image 1290 image tokens × $30/1M = $0.0387 per image;
// gemini-3-pro-image-preview 1120 tokens × $120/1M = $0.1344 (1K/2K), 2000 × $120/1M = $0.24 (4K)
// (Google's published prices, which OpenRouter passes through).

import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { delay, isRecord, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export type ChatImageFlavour = 'openrouter' | 'new-api' | 'parts' | 'link';

export interface ChatCompletionsFakeSwitches extends FakeSwitches {
  /** An error inside a 200 answer (OpenRouter: "emitted in the response body"), with this code. */
  errorInBody?: number;
}

export interface ChatCompletionsFakeOptions {
  port?: number;
  apiKey?: string;
  /** How answers carry the image; default `openrouter`. */
  flavour?: ChatImageFlavour;
  switches?: ChatCompletionsFakeSwitches;
}

/** One chat call the fake answered with an image. */
export interface ChatImageJob {
  model: string;
  prompt: string;
  body: Record<string, unknown>;
  /** Decoded input images of an edit. */
  inputs: { width: number; height: number; format: string }[];
  width: number;
  height: number;
}

export interface ChatCompletionsFake extends FakeServer {
  switches: ChatCompletionsFakeSwitches;
  flavour: ChatImageFlavour;
  jobs: ChatImageJob[];
}

export const chatCompletionsFakeApiKey = 'sk-or-v1-fake-chat-images-0123456789';

/** `image_config.aspect_ratio` → the 1K size (OpenRouter's image generation guide). */
export const chatFakeAspectSizes: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '2:3': [832, 1248],
  '3:2': [1248, 832],
  '3:4': [864, 1184],
  '4:3': [1184, 864],
  '4:5': [896, 1152],
  '5:4': [1152, 896],
  '9:16': [768, 1344],
  '16:9': [1344, 768],
  '21:9': [1536, 672],
};
const tierScale: Record<string, number> = { '1K': 1, '2K': 2, '4K': 4 };

/** Image models the fake serves; `image_size` applies only to the Gemini 3 one. */
const models: Record<string, { tiers: boolean; tokens: (tier: string) => number; pricePerMillion: number }> = {
  'google/gemini-2.5-flash-image': { tiers: false, tokens: () => 1290, pricePerMillion: 30 },
  'google/gemini-3-pro-image-preview': { tiers: true, tokens: (tier) => (tier === '4K' ? 2000 : 1120), pricePerMillion: 120 },
  'openai/gpt-5-image': { tiers: false, tokens: () => 4160, pricePerMillion: 40 },
  // Relays (new-api, one-api) serve Gemini under Google's own names.
  'gemini-2.5-flash-image': { tiers: false, tokens: () => 1290, pricePerMillion: 30 },
  'gemini-3-pro-image-preview': { tiers: true, tokens: (tier) => (tier === '4K' ? 2000 : 1120), pricePerMillion: 120 },
  // Google's GA id since 2026-05-28 ("gemini-3-pro-image (Nano Banana Pro), the generally available (GA)
  // version", https://ai.google.dev/gemini-api/docs/changelog), which relays serve once the preview is shut down.
  'gemini-3-pro-image': { tiers: true, tokens: (tier) => (tier === '4K' ? 2000 : 1120), pricePerMillion: 120 },
};

export async function startChatCompletionsFake(options: ChatCompletionsFakeOptions = {}): Promise<ChatCompletionsFake> {
  const switches: ChatCompletionsFakeSwitches = options.switches ?? {};
  const apiKey = options.apiKey ?? chatCompletionsFakeApiKey;
  const jobs: ChatImageJob[] = [];
  const files = new Map<string, { bytes: Buffer; issuedAt: number }>();
  let baseUrl = '';

  const error = (response: ServerResponse, status: number, message: string, metadata?: Record<string, unknown>, headers: Record<string, string> = {}) =>
    sendJson(response, status, { error: { code: status, message, ...(metadata === undefined ? {} : { metadata }) } }, headers);

  const fake = await startFakeServer(async (request, response) => {
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (switches.hang) return;
    const path = request.path.split('?')[0] ?? '';

    if (request.method === 'GET' && path.startsWith('/files/')) {
      const file = files.get(path.slice('/files/'.length));
      if (file === undefined || resultExpired(file.issuedAt, switches.resultUrlTtlMs)) {
        sendJson(response, 404, { error: 'not found' });
        return;
      }
      sendBytes(response, 200, file.bytes, 'image/png');
      return;
    }
    if (request.method !== 'POST' || !path.endsWith('/chat/completions')) {
      error(response, 404, `Not Found: ${request.method} ${path}`);
      return;
    }
    if (request.headers['authorization'] !== `Bearer ${apiKey}`) {
      error(response, 401, 'No auth credentials found');
      return;
    }
    if (switches.outOfFunds) {
      error(response, 402, 'Your account or API key has insufficient credits. Add more credits and retry the request.');
      return;
    }
    if (switches.failStatus !== undefined) {
      const retry: Record<string, string> = switches.failStatus === 429 && switches.retryAfterSeconds !== undefined ? { 'retry-after': String(switches.retryAfterSeconds) } : {};
      const messages: Record<number, string> = { 429: 'Rate limit exceeded: too many requests', 502: 'Provider returned error', 503: 'No endpoints found that can handle the requested parameters.' };
      error(response, switches.failStatus, messages[switches.failStatus] ?? 'Internal Server Error', undefined, retry);
      return;
    }

    const body = request.json;
    if (!isRecord(body)) {
      error(response, 400, 'Invalid JSON body');
      return;
    }
    const model = body['model'];
    if (typeof model !== 'string' || models[model] === undefined) {
      error(response, 400, `${String(model)} is not a valid model ID`);
      return;
    }
    const rules = models[model];
    const read = await readUserMessage(body['messages']);
    if (typeof read === 'string') {
      error(response, 400, read);
      return;
    }
    const modalities = body['modalities'];
    if (modalities !== undefined && (!Array.isArray(modalities) || !modalities.every((entry) => entry === 'text' || entry === 'image' || entry === 'audio'))) {
      error(response, 400, 'modalities must be a list of "text", "image", "audio"');
      return;
    }
    const imageConfig = body['image_config'];
    if (imageConfig !== undefined && !isRecord(imageConfig)) {
      error(response, 400, 'image_config must be an object');
      return;
    }
    const aspectRatio = imageConfig?.['aspect_ratio'] ?? '1:1';
    const tier = imageConfig?.['image_size'] ?? '1K';
    const base = typeof aspectRatio === 'string' ? chatFakeAspectSizes[aspectRatio] : undefined;
    if (base === undefined) {
      error(response, 400, `Invalid image_config.aspect_ratio ${JSON.stringify(aspectRatio)}: expected one of ${Object.keys(chatFakeAspectSizes).join(', ')}`);
      return;
    }
    if (typeof tier !== 'string' || tierScale[tier] === undefined) {
      error(response, 400, `Invalid image_config.image_size ${JSON.stringify(tier)}: expected 1K, 2K or 4K`);
      return;
    }
    // "Image Size (Gemini only)": other models render their 1K size whatever is asked.
    const scale = rules?.tiers ? (tierScale[tier] ?? 1) : 1;
    const [width, height] = [base[0] * scale, base[1] * scale];
    const isOpenRouter = (options.flavour ?? 'openrouter') === 'openrouter';
    // OpenRouter's ids are `gen-…`; relays keep OpenAI's `chatcmpl-…`.
    const id = `${isOpenRouter ? 'gen' : 'chatcmpl'}-${randomUUID()}`;
    const promptTokens = Math.ceil(read.prompt.length / 4) + read.inputs.length * 258;

    if (switches.moderation === 'input') {
      const flagged = read.prompt.length > 100 ? `${read.prompt.slice(0, 48)}...${read.prompt.slice(-48)}` : read.prompt;
      error(response, 403, `${model} requires moderation on Google. Your input was flagged for "violence".`, { reasons: ['violence'], flagged_input: flagged, provider_name: 'Google', model_slug: model });
      return;
    }
    if (switches.errorInBody !== undefined) {
      sendJson(response, 200, {
        id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: null,
        error: { code: switches.errorInBody, message: 'Provider returned error', metadata: { provider_name: 'Google', raw: 'upstream connect error' } },
        choices: [{ index: 0, finish_reason: 'error', native_finish_reason: 'error', message: { role: 'assistant', content: '' } }],
      });
      return;
    }
    if (switches.malformed) {
      const text = JSON.stringify({ id, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Here is' } }] });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(text.slice(0, Math.floor(text.length / 2)));
      return;
    }

    const usage = (images: number) => {
      const completion = images * (rules?.tokens(tier) ?? 1290);
      const cost = (completion * (rules?.pricePerMillion ?? 30)) / 1_000_000 + (promptTokens * 0.3) / 1_000_000;
      return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, ...(isOpenRouter ? { cost: Number(cost.toFixed(6)) } : {}) };
    };
    const wantsImage = Array.isArray(modalities) && modalities.includes('image');
    if (switches.moderation === 'output' || !wantsImage || switches.maxImages === 0) {
      const filtered = switches.moderation === 'output';
      sendJson(response, 200, {
        id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: null,
        choices: [{
          index: 0,
          finish_reason: filtered ? 'content_filter' : 'stop',
          // OpenRouter keeps the model's own reason; new-api and other relays only map it.
          ...(isOpenRouter ? { native_finish_reason: filtered ? 'IMAGE_SAFETY' : 'STOP' } : {}),
          message: { role: 'assistant', content: filtered ? '' : 'I can describe it, but here is only text: a quiet scene at dusk.' },
        }],
        usage: usage(0),
      });
      return;
    }

    const png = await makeTestImage(width, height, 'png', jobs.length + 1);
    jobs.push({ model, prompt: read.prompt, body, inputs: read.inputs, width, height });
    const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
    const text = 'Here is your image.';
    const flavour = options.flavour ?? 'openrouter';
    let message: Record<string, unknown>;
    if (flavour === 'openrouter') {
      message = { role: 'assistant', content: text, images: [{ type: 'image_url', image_url: { url: dataUrl } }] };
    } else if (flavour === 'new-api') {
      message = { role: 'assistant', content: `${text}\n![image](${dataUrl})` };
    } else if (flavour === 'parts') {
      message = { role: 'assistant', content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: dataUrl } }] };
    } else {
      const name = `${randomUUID()}.png`;
      files.set(name, { bytes: png, issuedAt: Date.now() });
      message = { role: 'assistant', content: `${text}\n\n![image](${baseUrl}/files/${name})` };
    }
    sendJson(response, 200, {
      id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: null,
      ...(flavour === 'openrouter' ? { provider: 'Google' } : {}),
      choices: [{ index: 0, finish_reason: 'stop', ...(isOpenRouter ? { native_finish_reason: 'STOP' } : {}), message }],
      usage: usage(1),
    });
  }, options.port ?? 0);
  baseUrl = fake.url;

  return { ...fake, switches, flavour: options.flavour ?? 'openrouter', jobs };
}

/** The last user message: its text (the prompt) and its image parts, decoded; a message a relay would refuse is a string. */
async function readUserMessage(messages: unknown): Promise<{ prompt: string; inputs: ChatImageJob['inputs'] } | string> {
  if (!Array.isArray(messages) || messages.length === 0) return 'messages: expected a non-empty array';
  const last: unknown = messages.at(-1);
  if (!isRecord(last) || last['role'] !== 'user') return 'messages: the last message must be a user message';
  const content = last['content'];
  if (typeof content === 'string') return content.trim() === '' ? 'messages: empty content' : { prompt: content, inputs: [] };
  if (!Array.isArray(content)) return 'messages: content must be a string or a list of parts';
  const texts: string[] = [];
  const inputs: ChatImageJob['inputs'] = [];
  for (const part of content) {
    if (!isRecord(part)) return 'messages: a content part is not an object';
    if (part['type'] === 'text' && typeof part['text'] === 'string') texts.push(part['text']);
    else if (part['type'] === 'image_url') {
      const url = isRecord(part['image_url']) ? part['image_url']['url'] : undefined;
      const match = typeof url === 'string' ? /^data:image\/(png|jpeg|webp|gif);base64,(.+)$/s.exec(url) : null;
      if (match === null) return 'messages: image_url.url must be a base64 data URL of a png, jpeg, webp or gif image';
      try {
        const metadata = await sharp(Buffer.from(match[2] ?? '', 'base64')).metadata();
        inputs.push({ width: metadata.width ?? 0, height: metadata.height ?? 0, format: metadata.format ?? 'unknown' });
      } catch {
        return 'messages: an image_url could not be decoded as an image';
      }
    } else return `messages: unknown content part type ${JSON.stringify(part['type'])}`;
  }
  const prompt = texts.join('\n');
  if (prompt.trim() === '') return 'messages: no text in the user message';
  return { prompt, inputs };
}

/** `npm run fake -- openrouter`: OpenRouter's shapes. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startChatCompletionsFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

/** `npm run fake -- chat-completions`: a new-api style relay (markdown data images in the content). */
export function relayFakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startChatCompletionsFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), flavour: 'new-api', switches: argv.switches });
}
