import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { decodeBase64Pieces, imageFromBase64Text, parseJsonLifting } from './json-base64.js';

const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(3000, 7)]);
const pngBase64 = png.toString('base64');

const joined = (pieces: readonly Buffer[] | undefined) => (pieces === undefined ? undefined : Buffer.concat(pieces).toString('latin1'));

/** The parsed value with each lifted value put back, as JSON.parse would have given it. */
function restored(body: Buffer): unknown {
  const lifted = parseJsonLifting(body, 'b64_json');
  if (!lifted) throw new Error('nothing lifted');
  return JSON.parse(JSON.stringify(lifted.value, (_key, value: unknown) => joined(lifted.liftedText(value)) ?? value));
}

describe('parseJsonLifting', () => {
  it('lifts every b64_json string as a slice of the body and parses the rest as JSON.parse does', () => {
    const original = {
      created: 1,
      data: [{ b64_json: pngBase64, revised_prompt: 'a "quoted" fox, ünïcode' }, { b64_json: 'QUJD' }],
      usage: { input_tokens: 3 },
    };
    const body = Buffer.from(JSON.stringify(original, null, 1));
    const lifted = parseJsonLifting(body, 'b64_json');
    const data = (lifted?.value as { data: Array<{ b64_json: unknown }> }).data;
    const first = lifted?.liftedText(data[0]?.b64_json);
    expect(joined(first)).toBe(pngBase64);
    // A view of the body, not a copy.
    expect(first?.[0]?.buffer).toBe(body.buffer);
    expect(joined(lifted?.liftedText(data[1]?.b64_json))).toBe('QUJD');
    expect(restored(body)).toEqual(original);
  });

  it('leaves the key alone where it is text inside a string, an array element or not a string value', () => {
    const original = {
      data: [{ b64_json: 'QUJD', revised_prompt: 'say {"b64_json":"x"} and \\"b64_json":"y"' }],
      note: ['b64_json', 'b64_json'],
      other: { b64_json: null },
    };
    const body = Buffer.from(JSON.stringify(original));
    expect(restored(body)).toEqual(original);
    const lifted = parseJsonLifting(body, 'b64_json');
    expect(lifted?.liftedText((lifted.value as typeof original).other.b64_json)).toBeUndefined();
    expect(lifted?.liftedText('\u0000lifted:0')).toEqual([Buffer.from('QUJD')]);
    expect(lifted?.liftedText('QUJD')).toBeUndefined();
  });

  it('declines bodies where lifting could change a value, and bodies without the key', () => {
    expect(parseJsonLifting(Buffer.from('{"data":[{"b64_json":"QU\\/D"}]}'), 'b64_json')).toBeUndefined();
    expect(parseJsonLifting(Buffer.from('{"data":[{"url":"https://example.com/a.png"}]}'), 'b64_json')).toBeUndefined();
    expect(parseJsonLifting(Buffer.from('{"data":[{"b64_json":"QUJD'), 'b64_json')).toBeUndefined();
  });

  it('throws on a body that is not JSON around the lifted values', () => {
    expect(() => parseJsonLifting(Buffer.from('{"data":[{"b64_json":"QUJD"}'), 'b64_json')).toThrow(SyntaxError);
  });
});

describe('parseJsonLifting on a body in pieces', () => {
  const original = {
    created: 1,
    data: [{ b64_json: pngBase64, revised_prompt: 'a "quoted" fox, ünïcode, b64_json' }, { b64_json: 'QUJD' }],
    usage: { input_tokens: 3 },
  };
  const body = Buffer.from(JSON.stringify(original, null, 1));

  /** The body cut at the given positions into separate buffers, as a socket delivers it. */
  const cut = (positions: number[]): Buffer[] => {
    const pieces: Buffer[] = [];
    let from = 0;
    for (const position of [...positions, body.length]) {
      pieces.push(Buffer.from(body.subarray(from, position)));
      from = position;
    }
    return pieces;
  };

  it('finds the same values wherever the pieces are cut: inside the key, the value, a character', () => {
    const key = body.indexOf('"b64_json"');
    const value = body.indexOf(pngBase64);
    const umlaut = body.indexOf('ü');
    const cuts = [[key + 1], [key + 5, key + 9], [value - 1], [value], [value + 1, value + 2, value + 3], [value + pngBase64.length], [umlaut + 1], [0, 0, 7]];
    for (let position = 1; position < body.length; position += 97) cuts.push([position]);
    cuts.push(Array.from({ length: 40 }, (_, index) => Math.floor((body.length * (index + 1)) / 41)));
    for (const positions of cuts) {
      const pieces = cut(positions);
      const lifted = parseJsonLifting(pieces, 'b64_json');
      expect(lifted, `cut at ${positions.join(', ')}`).toBeDefined();
      const restoredValue: unknown = JSON.parse(JSON.stringify(lifted?.value, (_key, item: unknown) => joined(lifted?.liftedText(item)) ?? item));
      expect(restoredValue, `cut at ${positions.join(', ')}`).toEqual(original);
      // The text stays in the received pieces: every lifted view shares memory with one of them.
      const data = (lifted?.value as { data: Array<{ b64_json: unknown }> }).data;
      for (const view of lifted?.liftedText(data[0]?.b64_json) ?? []) expect(pieces.some((piece) => piece.buffer === view.buffer)).toBe(true);
    }
  });

  it('still refuses to lift a value with an escape, even one cut between two pieces', () => {
    const escaped = Buffer.from('{"data":[{"b64_json":"QU\\/D"}]}');
    const at = escaped.indexOf('\\');
    expect(parseJsonLifting([escaped.subarray(0, at), escaped.subarray(at)], 'b64_json')).toBeUndefined();
    expect(parseJsonLifting([escaped.subarray(0, at + 1), escaped.subarray(at + 1)], 'b64_json')).toBeUndefined();
  });
});

describe('imageFromBase64Text', () => {
  it('decodes text held in several pieces', () => {
    const image = imageFromBase64Text([Buffer.from(pngBase64.slice(0, 5)), Buffer.from(pngBase64.slice(5))], {});
    expect(image.data.equals(png)).toBe(true);
  });

  it('keeps the text and decodes the bytes once, when first read', () => {
    const text = Buffer.from(pngBase64);
    const image = imageFromBase64Text(text, { mediaType: 'image/png', revisedPrompt: 'fox' });
    expect(image.base64).toEqual([text]);
    expect(image.base64?.[0]).toBe(text);
    expect(image.data.equals(png)).toBe(true);
    expect(image.data).toBe(image.data);
    expect([image.kind, image.mediaType, image.revisedPrompt]).toEqual(['bytes', 'image/png', 'fox']);
  });
});

describe('decodeBase64Pieces', () => {
  /** The text cut into pieces at the given lengths (the rest in the last piece). */
  const cut = (text: string, lengths: number[]): Buffer[] => {
    const pieces: Buffer[] = [];
    let at = 0;
    for (const length of lengths) {
      pieces.push(Buffer.from(text.slice(at, at + length), 'latin1'));
      at += length;
    }
    pieces.push(Buffer.from(text.slice(at), 'latin1'));
    return pieces;
  };

  it('decodes exactly as Buffer.from(text, "base64") wherever the pieces are cut, padded or not', () => {
    for (const size of [0, 1, 2, 3, 4, 5, 300, 301, 302, 65_537]) {
      const bytes = randomBytes(size);
      for (const text of [bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, '')]) {
        for (const lengths of [[1], [2], [3], [5, 7], [4, 4, 4], [text.length - 1], [text.length - 2], [text.length], [1000, 30_000, 3]]) {
          expect(decodeBase64Pieces(cut(text, lengths)).equals(bytes)).toBe(true);
        }
      }
    }
  });

  it('agrees with Buffer.from on text Node only half accepts: characters outside the alphabet, padding in the middle, URL-safe letters', () => {
    const bytes = randomBytes(3000);
    const text = bytes.toString('base64');
    for (const odd of [`${text.slice(0, 101)} \n${text.slice(101)}`, `${text.slice(0, 400)}=${text.slice(400)}`, text.replaceAll('+', '-').replaceAll('/', '_'), `${text}==`]) {
      for (const lengths of [[7], [100, 3], [402, 1], [odd.length - 1]]) {
        expect(decodeBase64Pieces(cut(odd, lengths)).equals(Buffer.from(odd, 'base64'))).toBe(true);
      }
    }
  });
});
