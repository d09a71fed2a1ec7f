// Image bytes in and out: sniffing what a buffer really is (never trusting a declared type) and
// encoding to the format a client asked for. The only module that talks to sharp outside engines.

import sharp from 'sharp';
import type { OutputFormat } from '../core/ports/image-model.js';

export type SniffedFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export interface ImageInfo {
  format: SniffedFormat;
  width: number;
  height: number;
  hasAlpha: boolean;
  /** libvips colour space + channels, e.g. "srgb"/4 — dall-e-2 wants RGBA, LA or L. */
  channels: number;
}

export const mediaTypes: Record<SniffedFormat, 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif'> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

export const fileExtensions: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpeg', webp: 'webp', svg: 'svg' };

/** The Content-Type a stored result of each output format is served with. */
export const outputContentTypes: Record<OutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', svg: 'image/svg+xml' };

/** Cheap magic-byte check, so garbage never reaches the decoder. */
export function sniffFormat(data: Buffer): SniffedFormat | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47 && data.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (data.length >= 6 && (data.toString('latin1', 0, 6) === 'GIF87a' || data.toString('latin1', 0, 6) === 'GIF89a')) return 'gif';
  return undefined;
}

/**
 * Decodes base64 text held as ASCII bytes (e.g. slices of an upstream's JSON body, in the pieces it
 * arrived in), at most its first `maxChars` characters. Node decodes base64 only from strings, so the
 * text is copied into one first; padding and whitespace are tolerated.
 */
export function decodeBase64Text(text: Buffer | readonly Buffer[], maxChars = Infinity): Buffer {
  return Buffer.from(leadingText(Buffer.isBuffer(text) ? [text] : text, maxChars).toString('latin1'), 'base64');
}

/** The first `maxChars` bytes of text held in pieces, joined only as far as needed. */
function leadingText(pieces: readonly Buffer[], maxChars: number): Buffer {
  const [first] = pieces;
  if (first !== undefined && first.length >= maxChars) return first.subarray(0, maxChars);
  const taken: Buffer[] = [];
  let length = 0;
  for (const piece of pieces) {
    if (length >= maxChars) break;
    const part = piece.subarray(0, maxChars - length);
    taken.push(part);
    length += part.length;
  }
  return taken.length === 1 && taken[0] ? taken[0] : Buffer.concat(taken);
}

/** The format of an image given as base64 text, from its first bytes alone: the rest is never decoded. */
export function sniffBase64Format(text: Buffer | readonly Buffer[]): SniffedFormat | undefined {
  // 16 base64 characters are 12 bytes, enough for every signature sniffFormat knows.
  return sniffFormat(decodeBase64Text(text, 16));
}

/** Reads the header of an image; undefined when the bytes are not a decodable png/jpeg/webp/gif. */
export async function inspectImage(data: Buffer): Promise<ImageInfo | undefined> {
  const format = sniffFormat(data);
  if (!format) return undefined;
  try {
    const meta = await sharp(data).metadata();
    if (!meta.width || !meta.height) return undefined;
    return { format, width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha ?? false, channels: meta.channels ?? 3 };
  } catch {
    return undefined;
  }
}

export interface EncodeOptions {
  format: OutputFormat;
  /** OpenAI's output_compression: 0-100, 100 the least lossy (OpenAI's default), lower a smaller file (jpeg/webp only). */
  compression?: number;
  /** Drop any alpha channel (background: opaque), flattening onto white. */
  opaque?: boolean;
}

/**
 * Encoder quality from OpenAI's output_compression, which is a quality in all but name: "The compression
 * level (0-100%) … defaults to 100" (openai-node src/resources/images.ts), lowered to shrink a JPEG.
 */
export const qualityFromCompression = (compression: number): number => Math.max(1, Math.min(100, Math.round(compression)));

/**
 * Whether an encoded image carries an alpha channel, from its header alone (no decode): PNG colour
 * types 4/6 or a tRNS chunk before the image data (PNG spec §11.2.2, §11.3.2.1); WebP's VP8X alpha
 * flag or VP8L's alpha_is_used bit (RFC 9649 §2.7, §3.2); JPEG never.
 */
export function hasAlphaChannel(data: Buffer): boolean {
  return alphaKnownFrom(data) ?? false;
}

/**
 * hasAlphaChannel of base64 text as its first 8,192 characters decoded would answer, decoding the
 * first 1,024 first: they hold a PNG's IHDR and the next chunk headers nearly always, and the
 * relayed path asks this of every image (a 6 KB buffer and an 8 KB string per image otherwise).
 */
export function base64HasAlpha(text: Buffer | readonly Buffer[]): boolean {
  const full = 8192;
  const head = decodeBase64Text(text, 1024);
  const textLength = Buffer.isBuffer(text) ? text.length : text.reduce((sum, piece) => sum + piece.length, 0);
  if (textLength <= 1024) return hasAlphaChannel(head);
  // A head this short is mostly not base64: the full prefix decides, as before.
  const known = head.length >= 32 ? alphaKnownFrom(head) : undefined;
  return known ?? hasAlphaChannel(decodeBase64Text(text, full));
}

/** Whether the image has alpha, or undefined when a PNG's chunks run past `data` before IDAT (a prefix may hold more). */
function alphaKnownFrom(data: Buffer): boolean | undefined {
  const format = sniffFormat(data);
  if (format === 'png') {
    if (data.length < 26) return false;
    const colourType = data[25];
    if (colourType === 4 || colourType === 6) return true;
    for (let offset = 8; offset + 8 <= data.length; ) {
      const length = data.readUInt32BE(offset);
      const type = data.toString('latin1', offset + 4, offset + 8);
      if (type === 'tRNS') return true;
      if (type === 'IDAT' || type === 'IEND') return false;
      offset += 12 + length;
    }
    return undefined;
  }
  if (format === 'webp') {
    const chunk = data.toString('latin1', 12, 16);
    if (chunk === 'VP8X') return data.length > 20 && ((data[20] ?? 0) & 0x10) !== 0;
    if (chunk === 'VP8L') return data.length > 24 && ((data[24] ?? 0) & 0x10) !== 0;
    return false;
  }
  return format === 'gif';
}

/** Whether bytes in format `current` already are what `options` asks for, so they can be relayed as they are. */
export function isAlreadyEncoded(current: SniffedFormat, options: EncodeOptions): boolean {
  const needsOpaque = options.opaque === true && current !== 'jpeg';
  return current === options.format && options.compression === undefined && !needsOpaque;
}

/**
 * Encodes to the requested format. Bytes that already are in that format and need no change are
 * returned as they are: re-encoding a large image costs far more than relaying it.
 */
export async function encodeImage(data: Buffer, current: SniffedFormat, options: EncodeOptions): Promise<Buffer> {
  if (isAlreadyEncoded(current, options)) return data;
  let pipeline = sharp(data);
  if (options.opaque || options.format === 'jpeg') pipeline = pipeline.flatten({ background: '#ffffff' });
  const quality = options.compression === undefined ? undefined : qualityFromCompression(options.compression);
  switch (options.format) {
    case 'png':
      return pipeline.png().toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality: quality ?? 90, mozjpeg: false }).toBuffer();
    case 'webp':
      return pipeline.webp({ quality: quality ?? 90 }).toBuffer();
    case 'svg':
      // Tracing pixels into paths is not encoding; a raster result never becomes an "SVG".
      throw new Error('a raster image cannot be encoded as svg');
  }
}
