import { describe, expect, it } from 'vitest';
import { imageFromBase64Text, parseJsonLifting } from './json-base64.js';

const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(3000, 7)]);
const pngBase64 = png.toString('base64');

/** The parsed value with each lifted value put back, as JSON.parse would have given it. */
function restored(body: Buffer): unknown {
  const lifted = parseJsonLifting(body, 'b64_json');
  if (!lifted) throw new Error('nothing lifted');
  return JSON.parse(JSON.stringify(lifted.value, (_key, value: unknown) => lifted.liftedText(value)?.toString('latin1') ?? value));
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
    expect(first?.toString('latin1')).toBe(pngBase64);
    // A view of the body, not a copy.
    expect(first?.buffer).toBe(body.buffer);
    expect(lifted?.liftedText(data[1]?.b64_json)?.toString('latin1')).toBe('QUJD');
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
    expect(lifted?.liftedText('\u0000lifted:0')).toEqual(Buffer.from('QUJD'));
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

describe('imageFromBase64Text', () => {
  it('keeps the text and decodes the bytes once, when first read', () => {
    const text = Buffer.from(pngBase64);
    const image = imageFromBase64Text(text, { mediaType: 'image/png', revisedPrompt: 'fox' });
    expect(image.base64).toBe(text);
    expect(image.data.equals(png)).toBe(true);
    expect(image.data).toBe(image.data);
    expect([image.kind, image.mediaType, image.revisedPrompt]).toEqual(['bytes', 'image/png', 'fox']);
  });
});
