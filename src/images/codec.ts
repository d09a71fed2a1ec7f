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

export const fileExtensions: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpeg', webp: 'webp' };

/** Cheap magic-byte check, so garbage never reaches the decoder. */
export function sniffFormat(data: Buffer): SniffedFormat | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47 && data.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (data.length >= 6 && (data.toString('latin1', 0, 6) === 'GIF87a' || data.toString('latin1', 0, 6) === 'GIF89a')) return 'gif';
  return undefined;
}

/**
 * Decodes base64 text held as ASCII bytes (e.g. a slice of an upstream's JSON body). Node decodes
 * base64 only from strings, so the text is copied into one first; padding and whitespace are tolerated.
 */
export function decodeBase64Text(text: Buffer): Buffer {
  return Buffer.from(text.toString('latin1'), 'base64');
}

/** The format of an image given as base64 text, from its first bytes alone: the rest is never decoded. */
export function sniffBase64Format(text: Buffer): SniffedFormat | undefined {
  // 16 base64 characters are 12 bytes, enough for every signature sniffFormat knows.
  return sniffFormat(decodeBase64Text(text.subarray(0, 16)));
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
  /** OpenAI's output_compression: 0-100, higher = smaller file (jpeg/webp only). */
  compression?: number;
  /** Drop any alpha channel (background: opaque), flattening onto white. */
  opaque?: boolean;
}

/** Quality for sharp from OpenAI's compression percentage. */
export const qualityFromCompression = (compression: number): number => Math.max(1, Math.min(100, 100 - compression));

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
  }
}
