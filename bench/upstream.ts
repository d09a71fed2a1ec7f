// The benchmark's upstream: a minimal OpenAI-compatible Images server whose every answer is prepared
// once at start, so a request costs only the socket work and the measured ceiling is the network stack's.
//
// Run as its own process: `node --import tsx bench/upstream.ts [--port N]`; it prints one JSON line
// `{"port":N}` on stdout once it listens. Routes (the request body is read and ignored):
//   POST /small-url/v1/images/generations    small JSON whose data[0].url is /files/small.png here
//   GET  /files/small.png                    a 64x64 PNG (a few hundred bytes)
//   POST /small-b64/v1/images/generations    the same 64x64 PNG as b64_json
//   POST /large-b64/v1/images/generations    a 1024x1024 PNG as b64_json, about 2 MB of JSON
//   POST /slow/v1/images/generations         the small b64_json answer, held for --slow-ms (default 2000)

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';

export interface PreparedResponse {
  status: number;
  headers: Record<string, string | number>;
  body: Buffer;
}

export interface UpstreamBodies {
  smallPng: Buffer;
  largePng: Buffer;
  /** 256x256, about 3 KB: its base64 answer is about 4 KB, a dall-e-2 256x256 `b64_json`. */
  tilePng: Buffer;
}

/**
 * A 1024x1024 PNG that deflate cannot shrink much: random samples in 0..11 per RGB channel carry about
 * 3.6 bits each, so the file is about 1.5 MB and its base64 about 2 MB, the size of a real gpt-image answer.
 */
export async function makeImages(): Promise<UpstreamBodies> {
  const side = 1024;
  const pixels = randomBytes(side * side * 3);
  for (let index = 0; index < pixels.length; index += 1) pixels[index] = (pixels[index] ?? 0) % 12;
  const largePng = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  const smallPng = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366ff' } }).png().toBuffer();
  // A 22 x 22 grid of random colours compresses to about 3 KB.
  const tileSide = 256;
  const cells = 22;
  const colours = randomBytes(cells * cells * 3);
  const tilePixels = Buffer.alloc(tileSide * tileSide * 3);
  for (let y = 0; y < tileSide; y += 1) {
    for (let x = 0; x < tileSide; x += 1) {
      const cell = (Math.floor((y * cells) / tileSide) * cells + Math.floor((x * cells) / tileSide)) * 3;
      colours.copy(tilePixels, (y * tileSide + x) * 3, cell, cell + 3);
    }
  }
  const tilePng = await sharp(tilePixels, { raw: { width: tileSide, height: tileSide, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
  return { smallPng, largePng, tilePng };
}

function jsonResponse(value: unknown): PreparedResponse {
  const body = Buffer.from(JSON.stringify(value));
  return { status: 200, headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-request-id': 'req_bench' }, body };
}

function imagesBody(item: Record<string, string>): PreparedResponse {
  return jsonResponse({
    created: 1_700_000_000,
    data: [item],
    usage: { input_tokens: 10, output_tokens: 100, total_tokens: 110, input_tokens_details: { text_tokens: 10, image_tokens: 0 } },
  });
}

/** Every answer, built once; `origin` is where this server listens (for the result URL). */
export function prepareResponses(images: UpstreamBodies, origin: string): Map<string, PreparedResponse> {
  const smallB64 = imagesBody({ b64_json: images.smallPng.toString('base64') });
  return new Map<string, PreparedResponse>([
    ['POST /small-url/v1/images/generations', imagesBody({ url: `${origin}/files/small.png` })],
    ['GET /files/small.png', { status: 200, headers: { 'content-type': 'image/png', 'content-length': images.smallPng.length }, body: images.smallPng }],
    ['POST /small-b64/v1/images/generations', smallB64],
    ['POST /large-b64/v1/images/generations', imagesBody({ b64_json: images.largePng.toString('base64') })],
    // A 256x256 request on the same route (dall-e-2 256x256 b64_json, scenario 6) gets a 256x256 image.
    ['POST /large-b64/v1/images/generations 256x256', imagesBody({ b64_json: images.tilePng.toString('base64') })],
    ['POST /slow/v1/images/generations', smallB64],
  ]);
}

const notFound = jsonResponse({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: 'not_found' } });

export async function startUpstream(options: { port: number; slowMs: number }): Promise<{ port: number; close(): Promise<void> }> {
  const images = await makeImages();
  let responses = new Map<string, PreparedResponse>();
  const send = (response: ServerResponse, prepared: PreparedResponse) => {
    response.writeHead(prepared.status, prepared.headers);
    response.end(prepared.body);
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = request.url ?? '/';
    const route = `${request.method} ${path.split('?')[0]}`;
    // The body is drained, not parsed: only the route that answers by size looks for "256x256" in it.
    const sized = responses.has(`${route} 256x256`);
    let asksTile = false;
    if (sized) request.on('data', (chunk: Buffer) => (asksTile ||= chunk.includes('"256x256"')));
    else request.resume();
    request.on('end', () => {
      const prepared = (asksTile ? responses.get(`${route} 256x256`) : responses.get(route)) ?? { ...notFound, status: 404 };
      if (path.startsWith('/slow/')) setTimeout(() => send(response, prepared), options.slowMs);
      else send(response, prepared);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  responses = prepareResponses(images, `http://127.0.0.1:${port}`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'slow-ms': { type: 'string', default: '2000' } } });
  const upstream = await startUpstream({ port: Number(values.port), slowMs: Number(values['slow-ms']) });
  process.stdout.write(`${JSON.stringify({ port: upstream.port })}\n`);
  const stop = () => void upstream.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench upstream: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
