// Minimal schemas of what the Gemini API sends back (generateContent, predict, error bodies): only the
// fields the adapter reads, each checked, so a body that is not what Google documents fails loudly.

import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const googleProviderName = 'google';

export interface GeminiInlineImage {
  mimeType: string;
  data: Buffer;
}

export interface GeminiCandidate {
  finishReason: string | undefined;
  /** Image parts of the final answer, in order; `thought` parts (Gemini 3's drafts) are left out. */
  images: GeminiInlineImage[];
  /** The model's prose, joined; shown when it answered without an image. */
  text: string;
}

export interface GeminiUsage {
  promptTokenCount: number;
  candidatesTokenCount: number;
  textPromptTokens: number | undefined;
  imagePromptTokens: number | undefined;
}

export interface GeminiResponse {
  blockReason: string | undefined;
  candidates: GeminiCandidate[];
  usage: GeminiUsage | undefined;
  responseId: string | undefined;
}

export interface ImagenPrediction {
  image?: { mimeType: string | undefined; data: Buffer };
  raiFilteredReason?: string;
}

export interface GoogleErrorBody {
  message: string | undefined;
  status: string | undefined;
  /** `reason` values of ErrorInfo details, e.g. API_KEY_INVALID. */
  reasons: string[];
  /** Seconds from a RetryInfo detail (`"retryDelay": "37s"`). */
  retryDelaySeconds: number | undefined;
}

function fail(what: string): never {
  throw invalidUpstreamResponse(googleProviderName, what);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return fail('the body is not valid JSON');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(`${what} is not a string`);
  return value;
}

function optionalCount(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${what} is not a count`);
  return value;
}

/** Base64 that decodes to something; Buffer.from silently skips junk, so the round trip is checked. */
function decodeBase64(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) fail(`${what} is missing`);
  const bytes = Buffer.from(value, 'base64');
  const canonical = value.replace(/[\s=]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (bytes.length === 0 || bytes.toString('base64').replace(/=/g, '') !== canonical) fail(`${what} is not base64`);
  return bytes;
}

export function parseGenerateContentResponse(body: Buffer): GeminiResponse {
  const json = parseJson(body);
  if (!isRecord(json)) fail('generateContent answered something other than an object');

  const promptFeedback = json['promptFeedback'];
  const blockReason = isRecord(promptFeedback) ? optionalString(promptFeedback['blockReason'], 'promptFeedback.blockReason') : undefined;

  const rawCandidates = json['candidates'] ?? [];
  if (!Array.isArray(rawCandidates)) fail('candidates is not a list');
  const candidates = rawCandidates.map((candidate, index): GeminiCandidate => {
    if (!isRecord(candidate)) fail(`candidates[${index}] is not an object`);
    const finishReason = optionalString(candidate['finishReason'], `candidates[${index}].finishReason`);
    const content = candidate['content'];
    // A candidate stopped for safety may come without content at all.
    const parts = isRecord(content) ? (content['parts'] ?? []) : [];
    if (!Array.isArray(parts)) fail(`candidates[${index}].content.parts is not a list`);
    const images: GeminiInlineImage[] = [];
    const texts: string[] = [];
    parts.forEach((part, partIndex) => {
      if (!isRecord(part)) fail(`candidates[${index}].content.parts[${partIndex}] is not an object`);
      if (part['thought'] === true) return;
      const inline = part['inlineData'];
      if (inline !== undefined) {
        if (!isRecord(inline)) fail(`inlineData of part ${partIndex} is not an object`);
        const mimeType = optionalString(inline['mimeType'], 'inlineData.mimeType') ?? 'application/octet-stream';
        // Gemini can in principle send other inline media; only images are results.
        if (mimeType.startsWith('image/')) images.push({ mimeType, data: decodeBase64(inline['data'], `inlineData.data of part ${partIndex}`) });
      }
      const text = optionalString(part['text'], `text of part ${partIndex}`);
      if (text !== undefined) texts.push(text);
    });
    return { finishReason, images, text: texts.join(' ').trim() };
  });

  let usage: GeminiUsage | undefined;
  const usageMetadata = json['usageMetadata'];
  if (isRecord(usageMetadata)) {
    let textPromptTokens: number | undefined;
    let imagePromptTokens: number | undefined;
    const details = usageMetadata['promptTokensDetails'];
    if (Array.isArray(details)) {
      for (const detail of details) {
        if (!isRecord(detail)) continue;
        const count = optionalCount(detail['tokenCount'], 'promptTokensDetails.tokenCount') ?? 0;
        if (detail['modality'] === 'TEXT') textPromptTokens = (textPromptTokens ?? 0) + count;
        if (detail['modality'] === 'IMAGE') imagePromptTokens = (imagePromptTokens ?? 0) + count;
      }
    }
    usage = {
      promptTokenCount: optionalCount(usageMetadata['promptTokenCount'], 'usageMetadata.promptTokenCount') ?? 0,
      candidatesTokenCount: optionalCount(usageMetadata['candidatesTokenCount'], 'usageMetadata.candidatesTokenCount') ?? 0,
      textPromptTokens,
      imagePromptTokens,
    };
  }

  return { blockReason, candidates, usage, responseId: optionalString(json['responseId'], 'responseId') };
}

export function parsePredictResponse(body: Buffer): ImagenPrediction[] {
  const json = parseJson(body);
  if (!isRecord(json)) fail('predict answered something other than an object');
  // Imagen answers `{}` when its safety filter removed every image.
  const predictions = json['predictions'] ?? [];
  if (!Array.isArray(predictions)) fail('predictions is not a list');
  return predictions.map((prediction, index): ImagenPrediction => {
    if (!isRecord(prediction)) fail(`predictions[${index}] is not an object`);
    const raiFilteredReason = optionalString(prediction['raiFilteredReason'], `predictions[${index}].raiFilteredReason`);
    if (prediction['bytesBase64Encoded'] === undefined) {
      if (raiFilteredReason === undefined) fail(`predictions[${index}] holds neither an image nor a filter reason`);
      return { raiFilteredReason };
    }
    return {
      image: {
        mimeType: optionalString(prediction['mimeType'], `predictions[${index}].mimeType`),
        data: decodeBase64(prediction['bytesBase64Encoded'], `predictions[${index}].bytesBase64Encoded`),
      },
    };
  });
}

/** Reads Google's `{"error":{code,message,status,details}}`; anything else yields an empty description. */
export function parseGoogleError(body: Buffer): GoogleErrorBody {
  const empty: GoogleErrorBody = { message: undefined, status: undefined, reasons: [], retryDelaySeconds: undefined };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return empty;
  }
  // Some Google front ends wrap the error in a one-element list.
  const outer = Array.isArray(json) ? json[0] : json;
  const error = isRecord(outer) ? outer['error'] : undefined;
  if (!isRecord(error)) return empty;
  const reasons: string[] = [];
  let retryDelaySeconds: number | undefined;
  const details = Array.isArray(error['details']) ? error['details'] : [];
  for (const detail of details) {
    if (!isRecord(detail)) continue;
    if (typeof detail['reason'] === 'string') reasons.push(detail['reason']);
    const delay = detail['retryDelay'];
    if (typeof delay === 'string') {
      const match = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
      if (match) retryDelaySeconds = Math.ceil(Number(match[1]));
    }
  }
  return {
    message: typeof error['message'] === 'string' ? error['message'] : undefined,
    status: typeof error['status'] === 'string' ? error['status'] : undefined,
    reasons,
    retryDelaySeconds,
  };
}
