// A local fake of the Gemini API's image surfaces (Gemini `:generateContent` and Imagen `:predict`),
// speaking the wire format of Google's API reference (https://ai.google.dev/api/generate-content,
// https://ai.google.dev/gemini-api/docs/imagen; types of github.com/googleapis/js-genai) closely enough for @google/genai.

import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { delay, makeTestImage, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export interface GoogleFakeOptions {
  port?: number;
  /** The key the fake accepts; any other key is answered the way Google answers an invalid key. */
  apiKey?: string;
  switches?: FakeSwitches;
  /** Answer Imagen's `:predict` as before its shutdown on the Gemini API (2026-08-17); off: 404. */
  servesImagen?: boolean;
}

export interface GoogleFake extends FakeServer {
  /** Mutable at any time; read on every request. */
  switches: FakeSwitches;
  /** Successful image answers, per family, so tests can count upstream calls that produced images. */
  counters: { generateContent: number; predict: number };
}

export const googleFakeDefaultApiKey = 'fake-google-key';

/** Aspect ratios `imageConfig.aspectRatio` accepts. */
export const geminiAspectRatios = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;
/** Aspect ratios Imagen's `parameters.aspectRatio` accepts. */
export const imagenAspectRatios = ['1:1', '3:4', '4:3', '9:16', '16:9'] as const;

// Output dimensions at the 1K tier, as the Gemini image-generation docs tabulate them; 2K and 4K double
// and quadruple them. Gemini 3 image models use slightly different 1K sizes from Gemini 2.5.
const gemini25Sizes: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '2:3': [832, 1248], '3:2': [1248, 832], '3:4': [864, 1184], '4:3': [1184, 864],
  '4:5': [896, 1152], '5:4': [1152, 896], '9:16': [768, 1344], '16:9': [1344, 768], '21:9': [1536, 672],
};
const gemini3Sizes: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '2:3': [848, 1264], '3:2': [1264, 848], '3:4': [896, 1200], '4:3': [1200, 896],
  '4:5': [928, 1152], '5:4': [1152, 928], '9:16': [768, 1376], '16:9': [1376, 768], '21:9': [1584, 672],
};
const imagenSizes: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '3:4': [896, 1280], '4:3': [1280, 896], '9:16': [768, 1408], '16:9': [1408, 768],
};
const tierScale: Record<string, number> = { '1K': 1, '2K': 2, '4K': 4 };

const statusNames: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const failMessages: Record<number, string> = {
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  503: 'The model is overloaded. Please try again later.',
  504: 'Deadline expired before operation could complete.',
};

/**
 * Gemini image ids Google has shut down: "gemini-3.1-flash-image-preview | February 26, 2026 | June 25, 2026 |
 * gemini-3.1-flash-image" and "gemini-3-pro-image-preview | November 20, 2025 | June 25, 2026 | gemini-3-pro-image"
 * (https://ai.google.dev/gemini-api/docs/deprecations); "Once a model is shutdown, it is completely turned off,
 * and the endpoint is no longer available". (gemini-2.5-flash-image's date, 2026-10-02, is listed as the
 * earliest possible one; the fake keeps serving it so its wire rules stay testable.)
 */
export const geminiShutDownModels: ReadonlySet<string> = new Set(['gemini-3-pro-image-preview', 'gemini-3.1-flash-image-preview']);

/** Whether a Gemini image model takes `imageConfig.imageSize` (Gemini 3 image models do; 2.x do not). */
export function geminiModelSupportsImageSize(model: string): boolean {
  return model.startsWith('gemini-3');
}

/** Imagen's `sampleImageSize` (1K/2K) exists on the standard and ultra models, not on fast. */
export function imagenModelSupportsImageSize(model: string): boolean {
  return !model.includes('fast') && model.startsWith('imagen-4');
}

/**
 * Switches, Google's way: failStatus → `{"error":{code,message,status}}` (429 as RESOURCE_EXHAUSTED with
 * a RetryInfo `retryDelay` from retryAfterSeconds, as Google sends no retry-after header); moderation
 * input → generateContent `promptFeedback.blockReason`, predict 400 citing Responsible AI practices;
 * moderation output → finishReason IMAGE_SAFETY, or predict `{}`; maxImages → fewer predictions
 * (0 makes Gemini answer in prose with NO_IMAGE); malformed → truncated JSON; hang; latencyMs.
 * pollsBeforeReady and resultUrlTtlMs do not apply: both APIs are synchronous and return base64 only.
 */
export async function startGoogleFake(options: GoogleFakeOptions = {}): Promise<GoogleFake> {
  const apiKey = options.apiKey ?? googleFakeDefaultApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const counters = { generateContent: 0, predict: 0 };

  const server = await startFakeServer(async (request, response) => {
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (switches.hang) return; // the connection stays open until the client gives up or the fake closes

    const url = new URL(request.path, 'http://fake.invalid');
    const match = /^\/v1beta\/models\/([^/:]+):(generateContent|predict)$/.exec(url.pathname);
    if (!match || request.method !== 'POST') {
      sendGoogleError(response, 404, `Requested entity was not found.`);
      return;
    }
    const model = decodeURIComponent(match[1] ?? '');
    const method = match[2] as 'generateContent' | 'predict';

    const presentedKey = headerValue(request, 'x-goog-api-key') ?? url.searchParams.get('key') ?? undefined;
    if (presentedKey === undefined || presentedKey === '') {
      sendGoogleError(
        response,
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
      return;
    }
    if (presentedKey !== apiKey) {
      // Google answers a wrong key with 400 INVALID_ARGUMENT plus an ErrorInfo reason, not with 401/403.
      sendGoogleError(response, 400, 'API key not valid. Please pass a valid API key.', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
      ]);
      return;
    }

    if (switches.failStatus) {
      const details =
        switches.failStatus === 429 && switches.retryAfterSeconds !== undefined
          ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${switches.retryAfterSeconds}s` }]
          : undefined;
      sendGoogleError(response, switches.failStatus, failMessages[switches.failStatus] ?? 'Request failed.', details);
      return;
    }

    if (!isObject(request.json)) {
      sendGoogleError(response, 400, 'Invalid JSON payload received. Expected an object.');
      return;
    }

    if (method === 'generateContent') await answerGenerateContent(model, request.json, response);
    else await answerPredict(model, request.json, response);
  }, options.port);

  async function answerGenerateContent(model: string, body: Record<string, unknown>, response: ServerResponse): Promise<void> {
    if (geminiShutDownModels.has(model)) {
      sendGoogleError(response, 404, `models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`);
      return;
    }
    if (!model.includes('image')) {
      sendGoogleError(response, 400, 'Model does not support the requested response modalities: image');
      return;
    }
    const contents = body['contents'];
    if (!Array.isArray(contents) || contents.length === 0) {
      sendGoogleError(response, 400, '* GenerateContentRequest.contents: contents is not specified');
      return;
    }
    let promptText = '';
    let inputImages = 0;
    for (const content of contents) {
      const parts = isObject(content) ? content['parts'] : undefined;
      if (!Array.isArray(parts) || parts.length === 0) {
        sendGoogleError(response, 400, '* GenerateContentRequest.contents.parts: contents.parts must not be empty.');
        return;
      }
      for (const part of parts) {
        if (!isObject(part)) {
          sendGoogleError(response, 400, 'Invalid JSON payload received. Part must be an object.');
          return;
        }
        if (typeof part['text'] === 'string') promptText += part['text'];
        // REST accepts snake_case as well as camelCase field names in requests.
        const inline = part['inlineData'] ?? part['inline_data'];
        if (inline !== undefined) {
          const problem = await checkInlineImage(inline);
          if (problem) {
            sendGoogleError(response, 400, problem);
            return;
          }
          inputImages += 1;
        }
      }
    }
    if (promptText.trim() === '' && inputImages === 0) {
      sendGoogleError(response, 400, '* GenerateContentRequest.contents.parts: must contain text or inline data.');
      return;
    }

    const generationConfig = isObject(body['generationConfig']) ? body['generationConfig'] : {};
    const modalities = generationConfig['responseModalities'];
    if (modalities !== undefined && (!Array.isArray(modalities) || modalities.some((m) => m !== 'TEXT' && m !== 'IMAGE'))) {
      sendGoogleError(response, 400, `Invalid value at 'generation_config.response_modalities': ${JSON.stringify(modalities)}`);
      return;
    }
    const imageConfig = isObject(generationConfig['imageConfig']) ? generationConfig['imageConfig'] : {};
    const aspectRatio = imageConfig['aspectRatio'] ?? '1:1';
    if (typeof aspectRatio !== 'string' || !(geminiAspectRatios as readonly string[]).includes(aspectRatio)) {
      sendGoogleError(response, 400, `* GenerateContentRequest.generation_config.image_config.aspect_ratio: unsupported aspect ratio ${JSON.stringify(aspectRatio)}`);
      return;
    }
    const imageSize = imageConfig['imageSize'];
    if (imageSize !== undefined) {
      if (!geminiModelSupportsImageSize(model)) {
        sendGoogleError(response, 400, `Image size is not supported for model ${model}.`);
        return;
      }
      if (typeof imageSize !== 'string' || !(imageSize in tierScale)) {
        sendGoogleError(response, 400, `* GenerateContentRequest.generation_config.image_config.image_size: unsupported image size ${JSON.stringify(imageSize)}`);
        return;
      }
    }

    const promptTokens = Math.max(1, Math.ceil(promptText.length / 4)) + inputImages * 258;
    const usageBase = {
      promptTokenCount: promptTokens,
      promptTokensDetails: [
        { modality: 'TEXT', tokenCount: promptTokens - inputImages * 258 },
        ...(inputImages > 0 ? [{ modality: 'IMAGE', tokenCount: inputImages * 258 }] : []),
      ],
    };
    const responseId = randomUUID().replaceAll('-', '').slice(0, 22);

    if (switches.malformed) {
      sendTruncatedJson(response, { candidates: [{ content: { role: 'model', parts: [{ text: 'cut' }] } }] });
      return;
    }
    if (switches.moderation === 'input') {
      sendJson(response, 200, { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { ...usageBase, totalTokenCount: promptTokens }, modelVersion: model, responseId });
      return;
    }
    if (switches.moderation === 'output') {
      sendJson(response, 200, {
        candidates: [{ content: { role: 'model', parts: [] }, finishReason: 'IMAGE_SAFETY', index: 0 }],
        usageMetadata: { ...usageBase, totalTokenCount: promptTokens },
        modelVersion: model,
        responseId,
      });
      return;
    }
    const wantsImage = modalities === undefined || (modalities as unknown[]).includes('IMAGE');
    if (!wantsImage || (switches.maxImages !== undefined && switches.maxImages < 1)) {
      // The model declines in prose: a successful answer that holds no image.
      sendJson(response, 200, {
        candidates: [{ content: { role: 'model', parts: [{ text: 'I cannot create that image, but here is a description instead.' }] }, finishReason: wantsImage ? 'NO_IMAGE' : 'STOP', index: 0 }],
        usageMetadata: { ...usageBase, candidatesTokenCount: 14, totalTokenCount: promptTokens + 14 },
        modelVersion: model,
        responseId,
      });
      return;
    }

    const tier = typeof imageSize === 'string' ? imageSize : '1K';
    const [baseWidth, baseHeight] = (geminiModelSupportsImageSize(model) ? gemini3Sizes : gemini25Sizes)[aspectRatio] ?? [1024, 1024];
    const scale = tierScale[tier] ?? 1;
    counters.generateContent += 1;
    const image = await makeTestImage(baseWidth * scale, baseHeight * scale, 'png', counters.generateContent);
    const outputTokens = geminiModelSupportsImageSize(model) ? (tier === '4K' ? 2000 : 1120) : 1290;
    sendJson(response, 200, {
      candidates: [
        {
          content: {
            role: 'model',
            parts: [{ text: 'Here is the image you asked for.' }, { inlineData: { mimeType: 'image/png', data: image.toString('base64') } }],
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { ...usageBase, candidatesTokenCount: outputTokens, totalTokenCount: promptTokens + outputTokens },
      modelVersion: model,
      responseId,
    });
  }

  async function answerPredict(model: string, body: Record<string, unknown>, response: ServerResponse): Promise<void> {
    // Imagen on the Gemini API was discontinued on 2026-08-17: "After that date those model IDs
    // return 404 Not Found" (azmym/gemini-mcp v0.2.1 release notes; Google's deprecations pages list
    // Imagen 4 as shut down). `servesImagen` keeps the old endpoint for tests of old behaviour.
    if (!model.startsWith('imagen-') || options.servesImagen !== true) {
      sendGoogleError(response, 404, `models/${model} is not found for API version v1beta, or is not supported for predict. Call ListModels to see the list of available models and their supported methods.`);
      return;
    }
    const instances = body['instances'];
    const instance = Array.isArray(instances) && instances.length === 1 && isObject(instances[0]) ? instances[0] : undefined;
    const prompt = instance?.['prompt'];
    if (typeof prompt !== 'string' || prompt.trim() === '') {
      sendGoogleError(response, 400, 'Image generation failed with the following error: The prompt is empty or instances is malformed.');
      return;
    }
    const parameters = body['parameters'] === undefined ? {} : body['parameters'];
    if (!isObject(parameters)) {
      sendGoogleError(response, 400, 'Invalid JSON payload received. Unknown name "parameters": expected an object.');
      return;
    }
    const sampleCount = parameters['sampleCount'] ?? 4;
    if (typeof sampleCount !== 'number' || !Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > 4) {
      sendGoogleError(response, 400, `Image generation failed with the following error: Number of images must be in the range [1, 4], got ${JSON.stringify(sampleCount)}.`);
      return;
    }
    const aspectRatio = parameters['aspectRatio'] ?? '1:1';
    if (typeof aspectRatio !== 'string' || !(imagenAspectRatios as readonly string[]).includes(aspectRatio)) {
      sendGoogleError(response, 400, `Image generation failed with the following error: Unsupported aspect ratio ${JSON.stringify(aspectRatio)}. Supported: ${imagenAspectRatios.join(', ')}.`);
      return;
    }
    const personGeneration = parameters['personGeneration'];
    if (personGeneration !== undefined && !['dont_allow', 'allow_adult', 'allow_all'].includes(String(personGeneration))) {
      sendGoogleError(response, 400, `Image generation failed with the following error: Unsupported personGeneration ${JSON.stringify(personGeneration)}.`);
      return;
    }
    // @google/genai sends the size tier as `sampleImageSize`.
    const sampleImageSize = parameters['sampleImageSize'];
    if (sampleImageSize !== undefined && (!imagenModelSupportsImageSize(model) || (sampleImageSize !== '1K' && sampleImageSize !== '2K'))) {
      sendGoogleError(response, 400, `Image generation failed with the following error: sampleImageSize ${JSON.stringify(sampleImageSize)} is not supported for ${model}.`);
      return;
    }
    const outputOptions = isObject(parameters['outputOptions']) ? parameters['outputOptions'] : {};
    const mimeType = outputOptions['mimeType'] ?? 'image/png';
    if (mimeType !== 'image/png' && mimeType !== 'image/jpeg') {
      sendGoogleError(response, 400, `Image generation failed with the following error: Unsupported output mime type ${JSON.stringify(mimeType)}.`);
      return;
    }

    if (switches.malformed) {
      sendTruncatedJson(response, { predictions: [{ bytesBase64Encoded: 'iVBORw0KGgo', mimeType }] });
      return;
    }
    if (switches.moderation === 'input') {
      // Imagen refuses a flagged prompt outright with a 400 that names the Responsible AI practices.
      sendGoogleError(
        response,
        400,
        "Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. If you think this was an error, send feedback. Support codes: 42876398",
      );
      return;
    }
    const includeRaiReason = parameters['includeRaiReason'] === true;
    const kept = switches.moderation === 'output' ? 0 : Math.min(sampleCount, switches.maxImages ?? sampleCount);
    const [baseWidth, baseHeight] = imagenSizes[aspectRatio] ?? [1024, 1024];
    const scale = sampleImageSize === '2K' ? 2 : 1;
    const format = mimeType === 'image/jpeg' ? 'jpeg' : 'png';
    const predictions: Record<string, unknown>[] = [];
    for (let index = 0; index < kept; index += 1) {
      counters.predict += 1;
      const image = await makeTestImage(baseWidth * scale, baseHeight * scale, format, counters.predict);
      predictions.push({ bytesBase64Encoded: image.toString('base64'), mimeType });
    }
    if (includeRaiReason) {
      for (let index = kept; index < sampleCount; index += 1) {
        predictions.push({ raiFilteredReason: 'Your current safety filter threshold filtered out 1 generated image. Support codes: 58061214' });
      }
    }
    // With every image filtered and no RAI reasons asked for, Imagen answers an empty object.
    sendJson(response, 200, predictions.length === 0 ? {} : { predictions });
  }

  return Object.assign(server, { switches, counters });
}

/** `npm run fake -- google --port N` entry. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startGoogleFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

function sendGoogleError(response: ServerResponse, status: number, message: string, details?: unknown[]): void {
  sendJson(response, status, { error: { code: status, message, status: statusNames[status] ?? 'UNKNOWN', ...(details ? { details } : {}) } });
}

function sendTruncatedJson(response: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  const truncated = text.slice(0, Math.floor(text.length / 2));
  response.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(truncated) });
  response.end(truncated);
}

async function checkInlineImage(inline: unknown): Promise<string | undefined> {
  if (!isObject(inline)) return 'Invalid JSON payload received. inline_data must be an object.';
  const mimeType = inline['mimeType'] ?? inline['mime_type'];
  const data = inline['data'];
  if (typeof mimeType !== 'string' || !['image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif'].includes(mimeType)) {
    return `Unsupported MIME type: ${String(mimeType)}`;
  }
  if (typeof data !== 'string' || data === '') return '* GenerateContentRequest.contents.parts.inline_data.data: data is empty';
  try {
    await sharp(Buffer.from(data, 'base64')).metadata();
  } catch {
    return 'Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting';
  }
  return undefined;
}

function headerValue(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
