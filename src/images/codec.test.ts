// The alpha check of relayed base64 images: decoding a 1 KB head first must answer exactly as
// decoding the first 8 KB did, wherever the deciding chunk lies.

import { describe, expect, it } from 'vitest';
import { base64HasAlpha, decodeBase64Text, hasAlphaChannel } from './codec.js';

function chunk(type: string, length: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, Buffer.alloc(length, 7), Buffer.alloc(4)]);
}

/** A PNG's chunk layout (CRCs and pixels are not read by the check): IHDR with `colourType`, then `chunks`. */
function png(colourType: number, chunks: Buffer[]): Buffer {
  const ihdr = chunk('IHDR', 13);
  ihdr[8 + 9] = colourType; // byte 25 of the file
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, ...chunks, chunk('IDAT', 64), chunk('IEND', 0)]);
}

const cases: Array<[string, Buffer, boolean]> = [
  ['RGBA colour type', png(6, []), true],
  ['RGB, no tRNS', png(2, []), false],
  ['RGB, tRNS right after IHDR', png(2, [chunk('tRNS', 6)]), true],
  ['RGB, tRNS after a 2 KB text chunk (past the 1 KB head)', png(2, [chunk('tEXt', 2000), chunk('tRNS', 6)]), true],
  ['RGB, IDAT after a 2 KB text chunk', png(2, [chunk('tEXt', 2000)]), false],
  ['RGB, tRNS past the 8 KB prefix (never seen, as before)', png(2, [chunk('tEXt', 7000), chunk('tRNS', 6)]), false],
  ['RGB, a large image whose IDAT is big', Buffer.concat([png(2, []), Buffer.alloc(20000)]), false],
];

describe('base64HasAlpha', () => {
  it.each(cases)('%s', (_name, bytes, expected) => {
    const text = Buffer.from(bytes.toString('base64'), 'latin1');
    expect(base64HasAlpha(text)).toBe(expected);
    // The same answer as the 8 KB decode it replaces, whole or in pieces as an upstream body arrives.
    expect(base64HasAlpha(text)).toBe(hasAlphaChannel(decodeBase64Text(text, 8192)));
    expect(base64HasAlpha([text.subarray(0, 100), text.subarray(100, 1500), text.subarray(1500)])).toBe(expected);
  });

  it('judges a short text (under 1 KB) whole', () => {
    const tiny = png(2, [chunk('tRNS', 6)]);
    expect(tiny.length).toBeLessThan(700);
    expect(base64HasAlpha(Buffer.from(tiny.toString('base64'), 'latin1'))).toBe(true);
  });
});
