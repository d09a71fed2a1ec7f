// Reads JSON answers that carry images as base64 strings without turning megabytes of base64 into
// JavaScript strings: the values of one key are lifted out as slices of the body, and only the small
// rest is parsed. A 2 MB `b64_json` answer then costs a few native scans instead of a UTF-8 decode,
// a JSON parse and a string copy, and the base64 can be relayed to the client as it came.

import type { ProviderImage } from '../../core/ports/image-model.js';

const quote = 0x22;
const backslash = 0x5c;
const colon = 0x3a;
const openBrace = 0x7b;
const comma = 0x2c;
const isWhitespace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

export interface LiftedJson {
  /** The parsed body, each lifted value replaced by a marker string. */
  value: unknown;
  /** The lifted text behind a marker (a slice of the body, no copy); undefined for any other value. */
  liftedText(value: unknown): Buffer | undefined;
}

/**
 * Parses `body` with every string value of `key` lifted out. Undefined when lifting is not safe (a
 * value with escapes, or no such key at all): the caller then parses the body as usual, so the result
 * never differs from JSON.parse's. Syntax errors surface from JSON.parse on the rest, as they would.
 */
export function parseJsonLifting(body: Buffer, key: string): LiftedJson | undefined {
  const needle = Buffer.from(JSON.stringify(key));
  const pieces: string[] = [];
  const lifted: Buffer[] = [];
  let copiedUpTo = 0;
  let position = 0;
  for (;;) {
    const found = body.indexOf(needle, position);
    if (found === -1) break;
    position = found + needle.length;
    // Only a key counts: the previous meaningful byte opens an object or separates members. Inside a
    // string the needle's quotes would be escaped, which this test and the one below both rule out.
    let before = found - 1;
    while (before >= 0 && isWhitespace(body[before])) before -= 1;
    if (before < 0 || (body[before] !== openBrace && body[before] !== comma)) continue;
    let cursor = position;
    while (isWhitespace(body[cursor])) cursor += 1;
    if (body[cursor] !== colon) continue;
    cursor += 1;
    while (isWhitespace(body[cursor])) cursor += 1;
    // A value that is not a string (null, a number) is left to JSON.parse.
    if (body[cursor] !== quote) continue;
    const start = cursor + 1;
    const end = body.indexOf(quote, start);
    if (end === -1) return undefined;
    // An escape (`\/` from some JSON encoders) would make the raw bytes differ from the value.
    if (body.subarray(start, end).includes(backslash)) return undefined;
    pieces.push(body.toString('utf8', copiedUpTo, start), markerOf(lifted.length));
    lifted.push(body.subarray(start, end));
    copiedUpTo = end;
    position = end + 1;
  }
  if (lifted.length === 0) return undefined;
  pieces.push(body.toString('utf8', copiedUpTo));
  const value: unknown = JSON.parse(pieces.join(''));
  return {
    value,
    liftedText(candidate) {
      if (typeof candidate !== 'string' || !candidate.startsWith(markerPrefix)) return undefined;
      const index = Number(candidate.slice(markerPrefix.length));
      return Number.isInteger(index) ? lifted[index] : undefined;
    },
  };
}

// U+0000 never appears raw in JSON text and every value of the key was lifted, so no real value of
// the key can be mistaken for a marker.
const markerPrefix = '\u0000lifted:';
const markerOf = (index: number) => `\\u0000lifted:${index}`;

/**
 * An image whose bytes arrived as base64 text: the text is kept for relaying, and the bytes are
 * decoded only if something reads `data` (a format change, storing it), then kept.
 */
export function imageFromBase64Text(
  text: Buffer,
  details: { mediaType?: string; revisedPrompt?: string },
): Extract<ProviderImage, { kind: 'bytes' }> {
  let decoded: Buffer | undefined;
  return {
    kind: 'bytes',
    get data() {
      decoded ??= Buffer.from(text.toString('latin1'), 'base64');
      return decoded;
    },
    base64: text,
    ...(details.mediaType === undefined ? {} : { mediaType: details.mediaType }),
    ...(details.revisedPrompt === undefined ? {} : { revisedPrompt: details.revisedPrompt }),
  };
}
