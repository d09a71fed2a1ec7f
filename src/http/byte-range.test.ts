// The Range header rules of RFC 9110 §14, on the cases static file servers are known to meet.

import { describe, expect, it } from 'vitest';
import { parseRangeHeader } from './byte-range.js';

describe('parseRangeHeader', () => {
  it('reads the three forms of one byte range', () => {
    expect(parseRangeHeader('bytes=0-99')).toEqual({ start: 0, end: 99 });
    expect(parseRangeHeader('bytes=100-')).toEqual({ start: 100 });
    expect(parseRangeHeader('bytes=-500')).toEqual({ suffixLength: 500 });
    expect(parseRangeHeader('Bytes = 5 - 6')).toEqual({ start: 5, end: 6 });
  });

  it('ignores what is not one valid byte range (the whole object is then served)', () => {
    for (const header of [undefined, '', 'items=0-1', 'bytes=', 'bytes=-', 'bytes=a-b', 'bytes=5-1', 'bytes=0-1,4-5', 'bytes=1', `bytes=0-${'9'.repeat(300)}`, 'bytes=99999999999999999-']) {
      expect(parseRangeHeader(header), String(header)).toBeUndefined();
    }
  });
});
