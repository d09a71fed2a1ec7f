// Shared helpers of the Images API end-to-end tests: requests over real HTTP, OpenAI error-shape
// checks, and decoding returned images (b64_json or hosted URL) with sharp.

import sharp from 'sharp';
import { expect } from 'vitest';
import type { TestGateway } from '../../src/testing/gateway-harness.js';

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: unknown;
}

export async function readResponse(response: Response): Promise<ApiResponse> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text so a failing assertion shows what came back.
  }
  return { status: response.status, headers: response.headers, body };
}

/** POSTs a JSON body (or a raw string, sent as-is) with the harness key unless headers say otherwise. */
export async function postJson(
  gateway: TestGateway,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(response);
}

export async function postForm(gateway: TestGateway, path: string, form: FormData, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${gateway.apiKey}`, ...headers }, body: form });
  return readResponse(response);
}

export const generate = (gateway: TestGateway, body: unknown, headers?: Record<string, string>) =>
  postJson(gateway, '/v1/images/generations', body, headers);

/** A multipart form as the SDK builds it: text fields, and file parts labelled application/octet-stream. */
export function multipartForm(fields: Record<string, string>, files: Array<{ field: string; data: Buffer; filename?: string; type?: string }>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const file of files) {
    form.append(file.field, new Blob([new Uint8Array(file.data)], { type: file.type ?? 'application/octet-stream' }), file.filename ?? 'upload.bin');
  }
  return form;
}

export interface ImagesBody {
  created: number;
  data: Array<{ url?: string; b64_json?: string; revised_prompt?: string }>;
  background?: string;
  output_format?: string;
  quality?: string;
  size?: string;
  usage?: unknown;
}

export function imagesBody(response: ApiResponse): ImagesBody {
  expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
  return response.body as ImagesBody;
}

/**
 * Asserts an error in exactly OpenAI's shape: `{"error":{"message","type","param","code"}}` and
 * nothing else, with the request id header every response carries.
 */
export function expectOpenAIError(
  response: ApiResponse,
  expected: { status: number; code: string; param?: string | null; type?: string; mentions?: string[] },
): { message: string; type: string; param: string | null; code: string } {
  expect(response.status, JSON.stringify(response.body)).toBe(expected.status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('x-request-id')).toBeTruthy();
  const body = response.body as { error: { message: string; type: string; param: string | null; code: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.code).toBe(expected.code);
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param);
  expect(body.error.type).toBe(expected.type ?? (expected.status >= 500 ? 'server_error' : 'invalid_request_error'));
  for (const word of expected.mentions ?? []) expect(body.error.message).toContain(word);
  return body.error;
}

export interface DecodedImage {
  bytes: Buffer;
  format: string | undefined;
  width: number | undefined;
  height: number | undefined;
  hasAlpha: boolean;
  /** The smallest alpha value in the image (255 when it has no alpha channel). */
  minAlpha: number;
}

export async function decodeImage(bytes: Buffer): Promise<DecodedImage> {
  const image = sharp(bytes);
  const meta = await image.metadata();
  const hasAlpha = meta.hasAlpha ?? false;
  let minAlpha = 255;
  if (hasAlpha) {
    const stats = await image.stats();
    minAlpha = stats.channels[3]?.min ?? 255;
  }
  return { bytes, format: meta.format, width: meta.width, height: meta.height, hasAlpha, minAlpha };
}

/** The bytes of one response item: decoded base64, or downloaded from its signed URL. */
export async function itemBytes(item: { url?: string; b64_json?: string }): Promise<Buffer> {
  if (item.b64_json !== undefined) return Buffer.from(item.b64_json, 'base64');
  if (item.url === undefined) throw new Error('response item has neither url nor b64_json');
  const response = await fetch(item.url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

export async function decodeItem(item: { url?: string; b64_json?: string }): Promise<DecodedImage> {
  return decodeImage(await itemBytes(item));
}

export const warningsOf = (response: ApiResponse): string => response.headers.get('x-imagegate-warnings') ?? '';

/** A solid-colour image of the given size and channels, encoded as asked. */
export async function solidImage(
  width: number,
  height: number,
  options: { channels?: 3 | 4; alpha?: number; format?: 'png' | 'jpeg' | 'webp'; colour?: { r: number; g: number; b: number } } = {},
): Promise<Buffer> {
  const colour = options.colour ?? { r: 40, g: 120, b: 200 };
  const channels = options.channels ?? 4;
  const pipeline = sharp({ create: { width, height, channels, background: { ...colour, alpha: options.alpha ?? 1 } } });
  switch (options.format ?? 'png') {
    case 'png':
      return pipeline.png().toBuffer();
    case 'jpeg':
      return pipeline.jpeg().toBuffer();
    case 'webp':
      return pipeline.webp().toBuffer();
  }
}

/** A valid PNG padded after its end so the file reaches `totalBytes` (decoders ignore trailing bytes). */
export async function paddedPng(width: number, totalBytes: number): Promise<Buffer> {
  const png = await solidImage(width, width, { channels: 4, alpha: 0.5 });
  return Buffer.concat([png, Buffer.alloc(Math.max(0, totalBytes - png.length))]);
}
