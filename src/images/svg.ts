// SVG results of vector models (Recraft's `*_vector`): recognising an SVG document, refusing one that
// could act as a page rather than a picture, and rasterising it when a raster format is asked for.
//
// An SVG is XML that a browser runs as a document when it is opened directly: <script>, event
// attributes, javascript: links and <foreignObject> HTML all execute on the origin that serves it.
// The gateway serves stored results from its own origin (GET /v1/files/…), so such SVGs are refused
// here whatever their source, and the files route adds a sandboxing Content-Security-Policy besides
// (defence in depth: the policy protects a browser, the check protects clients that inline b64_json).

import sharp from 'sharp';
import type { OutputFormat } from '../core/ports/image-model.js';
import { encodeImage } from './codec.js';

/** The largest SVG accepted from an upstream: Recraft's vector results are tens to hundreds of KB. */
export const maxSvgBytes = 8 * 1024 * 1024;

/** Whether the bytes are an SVG document: optional BOM, XML declaration, comments or doctype, then `<svg`. */
export function isSvgDocument(data: Buffer): boolean {
  const head = data.subarray(0, 4096).toString('utf8').replace(/^\uFEFF/, '');
  const prolog = /^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>\s*)*<svg[\s>]/i;
  return prolog.test(head);
}

/**
 * Constructs that make an SVG active content or an XML bomb. Recraft's vectors are plain paths and
 * gradients; anything here means the document is not a picture we should hand out.
 */
const activeContent: ReadonlyArray<[RegExp, string]> = [
  [/<script[\s>/]/i, 'a <script> element'],
  [/<foreignObject[\s>/]/i, 'a <foreignObject> element'],
  [/\son[a-z]+\s*=/i, 'an event-handler attribute'],
  [/(?:href|src)\s*=\s*["']?\s*(?:javascript|vbscript|data:text\/html)/i, 'a script link'],
  [/<!ENTITY/i, 'an XML entity declaration'],
  [/<(?:iframe|embed|object)[\s>/]/i, 'an embedded document'],
];

/** Why the SVG must not be delivered, or undefined when it is a plain picture within the size bound. */
export function svgProblem(data: Buffer): string | undefined {
  if (data.length > maxSvgBytes) return `it is ${data.length} bytes, above the ${maxSvgBytes}-byte limit for SVG results`;
  if (!isSvgDocument(data)) return 'it is not an SVG document';
  const text = data.toString('utf8');
  for (const [pattern, what] of activeContent) if (pattern.test(text)) return `it contains ${what}`;
  return undefined;
}

/**
 * An SVG in the asked format: itself for `svg`, else rasterised at its own width × height (librsvg at
 * 72 dpi, its identity scale; sharp loads no external files or URLs it references) and encoded.
 */
export async function encodeSvg(data: Buffer, options: { format: OutputFormat; compression?: number }): Promise<Buffer> {
  if (options.format === 'svg') return data;
  const png = await sharp(data, { density: 72 }).png().toBuffer();
  return encodeImage(png, 'png', { format: options.format, ...(options.compression === undefined ? {} : { compression: options.compression }) });
}
