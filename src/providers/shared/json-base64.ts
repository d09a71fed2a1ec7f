// Reads JSON answers that carry images as base64 strings without turning megabytes of base64 into
// JavaScript strings: the values of one key are lifted out as slices of the body, and only the small
// rest is parsed. A 2 MB `b64_json` answer then costs a few native scans instead of a UTF-8 decode,
// a JSON parse and a string copy, and the base64 can be relayed to the client as it came. The body
// may be read in the pieces it arrived in (the socket's chunks), so it is never joined into one buffer.

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
  /**
   * The lifted text behind a marker, as views of the body's pieces in order (no copy: a value that
   * spans several received chunks stays in them); undefined for any other value.
   */
  liftedText(value: unknown): readonly Buffer[] | undefined;
}

/**
 * Parses `body` (one buffer, or the pieces it arrived in) with every string value of `key` lifted
 * out. Undefined when lifting is not safe (a value with escapes, or no such key at all): the caller
 * then parses the body as usual, so the result never differs from JSON.parse's. Syntax errors
 * surface from JSON.parse on the rest, as they would.
 */
export function parseJsonLifting(body: Buffer | readonly Buffer[], key: string): LiftedJson | undefined {
  const text = new PiecedText(Buffer.isBuffer(body) ? [body] : body);
  const needle = needleOf(key);
  const pieces: string[] = [];
  const lifted: Array<readonly Buffer[]> = [];
  let copiedUpTo = 0;
  let position = 0;
  for (;;) {
    const found = text.indexOf(needle, position);
    if (found === -1) break;
    position = found + needle.length;
    // Only a key counts: the previous meaningful byte opens an object or separates members. Inside a
    // string the needle's quotes would be escaped, which this test and the one below both rule out.
    let before = found - 1;
    while (before >= 0 && isWhitespace(text.byteAt(before))) before -= 1;
    if (before < 0 || (text.byteAt(before) !== openBrace && text.byteAt(before) !== comma)) continue;
    let cursor = position;
    while (isWhitespace(text.byteAt(cursor))) cursor += 1;
    if (text.byteAt(cursor) !== colon) continue;
    cursor += 1;
    while (isWhitespace(text.byteAt(cursor))) cursor += 1;
    // A value that is not a string (null, a number) is left to JSON.parse.
    if (text.byteAt(cursor) !== quote) continue;
    const start = cursor + 1;
    const end = text.indexOf(closingQuote, start);
    if (end === -1) return undefined;
    const value = text.views(start, end);
    // An escape (`\/` from some JSON encoders) would make the raw bytes differ from the value.
    if (value.some((view) => view.includes(backslash))) return undefined;
    pieces.push(text.utf8(copiedUpTo, start), markerOf(lifted.length));
    lifted.push(value);
    copiedUpTo = end;
    position = end + 1;
  }
  if (lifted.length === 0) return undefined;
  pieces.push(text.utf8(copiedUpTo, text.length));
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

const closingQuote = Buffer.from('"');

/** Each key's quoted form as bytes, made once (callers lift one of a few fixed keys). */
const needles = new Map<string, Buffer>();

function needleOf(key: string): Buffer {
  let needle = needles.get(key);
  if (needle === undefined) {
    needle = Buffer.from(JSON.stringify(key));
    if (needles.size < 64) needles.set(key, needle);
  }
  return needle;
}

/** Bytes held in several buffers, read as one text by position, without joining them. */
class PiecedText {
  readonly #pieces: readonly Buffer[];
  /** Where each piece starts in the whole. */
  readonly #starts: number[] = [];
  readonly length: number;

  constructor(pieces: readonly Buffer[]) {
    this.#pieces = pieces;
    let length = 0;
    for (const piece of pieces) {
      this.#starts.push(length);
      length += piece.length;
    }
    this.length = length;
  }

  /** The piece holding `position` (the last piece that starts at or before it). */
  #pieceAt(position: number): number {
    let low = 0;
    let high = this.#pieces.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#starts[middle] ?? 0) <= position) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  byteAt(position: number): number | undefined {
    if (position < 0 || position >= this.length) return undefined;
    const index = this.#pieceAt(position);
    return this.#pieces[index]?.[position - (this.#starts[index] ?? 0)];
  }

  /** Where `needle` first occurs at or after `from`, a match across two pieces included; -1 if nowhere. */
  indexOf(needle: Buffer, from: number): number {
    if (from >= this.length) return -1;
    for (let index = this.#pieceAt(from); index < this.#pieces.length; index += 1) {
      const piece = this.#pieces[index] ?? Buffer.alloc(0);
      const start = this.#starts[index] ?? 0;
      const local = Math.max(0, from - start);
      const found = piece.indexOf(needle, local);
      if (found !== -1) return start + found;
      // A match that begins in this piece's last bytes and ends in the next ones.
      const overlap = needle.length - 1;
      if (overlap > 0 && start + piece.length < this.length) {
        const joinFrom = Math.max(local, piece.length - overlap);
        const joint = Buffer.concat([piece.subarray(joinFrom), ...this.views(start + piece.length, Math.min(this.length, start + piece.length + overlap))]);
        const across = joint.indexOf(needle);
        if (across !== -1) return start + joinFrom + across;
      }
    }
    return -1;
  }

  /** The bytes from `start` to `end` as views of the pieces (no copy). */
  views(start: number, end: number): Buffer[] {
    const views: Buffer[] = [];
    if (end <= start) return views;
    for (let index = this.#pieceAt(start); index < this.#pieces.length; index += 1) {
      const pieceStart = this.#starts[index] ?? 0;
      if (pieceStart >= end) break;
      const piece = this.#pieces[index] ?? Buffer.alloc(0);
      const view = piece.subarray(Math.max(0, start - pieceStart), Math.min(piece.length, end - pieceStart));
      if (view.length > 0) views.push(view);
    }
    return views;
  }

  /** The bytes from `start` to `end` decoded as UTF-8 (joined first: a character may span two pieces). */
  utf8(start: number, end: number): string {
    const views = this.views(start, end);
    return (views.length === 1 && views[0] ? views[0] : Buffer.concat(views)).toString('utf8');
  }
}

// U+0000 never appears raw in JSON text and every value of the key was lifted, so no real value of
// the key can be mistaken for a marker.
const markerPrefix = '\u0000lifted:';
const markerOf = (index: number) => `\\u0000lifted:${index}`;

/**
 * An image whose bytes arrived as base64 text (in one piece or several): the text is kept for
 * relaying, and the bytes are decoded only if something reads `data` (a format change, storing it),
 * then kept.
 */
export function imageFromBase64Text(
  text: Buffer | readonly Buffer[],
  details: { mediaType?: string; revisedPrompt?: string },
): Extract<ProviderImage, { kind: 'bytes' }> {
  const image = new Base64Image(Buffer.isBuffer(text) ? [text] : text);
  if (details.mediaType !== undefined) image.mediaType = details.mediaType;
  if (details.revisedPrompt !== undefined) image.revisedPrompt = details.revisedPrompt;
  return image;
}

/**
 * A class, not an object literal with a `get data()`, which this V8 makes a dictionary
 * (docs/architecture.md: no hidden class per request). Spreading one loses `data` (a prototype
 * accessor): copy the fields you need instead.
 */
class Base64Image {
  readonly kind = 'bytes';
  mediaType?: string;
  revisedPrompt?: string;
  #decoded: Buffer | undefined;

  constructor(readonly base64: readonly Buffer[]) {}

  get data(): Buffer {
    this.#decoded ??= decodeBase64Pieces(this.base64);
    return this.#decoded;
  }
}

/**
 * Base64 text held in pieces (the socket's chunks), decoded into one buffer as `Buffer.from(text,
 * 'base64')` decodes the whole. Node decodes base64 only from strings, so each piece becomes a string
 * of its own (tens of kilobytes, gone at the next scavenge) instead of the whole text being joined into
 * a buffer and then into a string of megabytes (copied twice, the string in V8's large-object space,
 * which only a full collection frees: scenario 3 spent 18 % of its time in the collector). The pieces
 * are cut at whole quanta of four characters, which decode alone exactly when every character is of the
 * alphabet; when one is not (Node's decoder skips it, shifting the quanta) the decoded length falls short
 * of what the text's length implies, and the whole text is decoded at once instead.
 */
export function decodeBase64Pieces(pieces: readonly Buffer[]): Buffer {
  const only = pieces.length === 1 ? pieces[0] : undefined;
  if (only !== undefined) return Buffer.from(only.toString('latin1'), 'base64');
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const decoded = Buffer.allocUnsafe(Math.floor((length * 3) / 4));
  let written = 0;
  // The characters before a piece that do not yet make a whole quantum: completed from the next piece.
  let carry = '';
  for (let index = 0; index < pieces.length; index += 1) {
    const piece = pieces[index] as Buffer;
    let start = 0;
    if (carry !== '') {
      start = Math.min(4 - carry.length, piece.length);
      carry += piece.toString('latin1', 0, start);
      if (carry.length < 4) continue;
      written += decoded.write(carry, written, 'base64');
      carry = '';
    }
    // Each piece's whole quanta become one string straight from its bytes (no joined or sliced copy).
    const end = index === pieces.length - 1 ? piece.length : start + ((piece.length - start) & ~3);
    written += decoded.write(piece.toString('latin1', start, end), written, 'base64');
    if (end < piece.length) carry = piece.toString('latin1', end);
  }
  if (carry !== '') written += decoded.write(carry, written, 'base64');
  if (written !== expectedBase64Bytes(pieces, length)) return Buffer.from(Buffer.concat(pieces, length).toString('latin1'), 'base64');
  return decoded.subarray(0, written);
}

/** What a text of `length` base64 characters, all of the alphabet, decodes to (its trailing `=` not counted). */
function expectedBase64Bytes(pieces: readonly Buffer[], length: number): number {
  const last = pieces[pieces.length - 1];
  let padding = 0;
  if (last !== undefined && last.length > 0 && last[last.length - 1] === equalsSign) padding = last.length > 1 && last[last.length - 2] === equalsSign ? 2 : 1;
  return Math.floor(((length - padding) * 3) / 4);
}

const equalsSign = 0x3d;
