// The upstream SSE parser: messages survive any chunking, every line ending, comments and multi-line data.

import { describe, expect, it } from 'vitest';
import { createSseParser, type SseMessage } from './sse.js';

function parseInChunks(text: string, chunkSize: number): SseMessage[] {
  const messages: SseMessage[] = [];
  const parser = createSseParser((message) => messages.push(message));
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; offset += chunkSize) parser.push(bytes.subarray(offset, offset + chunkSize));
  parser.end();
  return messages;
}

const stream =
  ': keep-alive\n\n' +
  'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image","b64_json":"QUJD","note":"héllo ✓"}\n\n' +
  'data: first\r\ndata:second\r\n\r\n' +
  'event: error\rdata: {"type":"error"}\r\r' +
  'id: 7\nretry: 100\n\n' +
  'event: image_generation.completed\ndata: {"type":"image_generation.completed"}';

const expected: SseMessage[] = [
  { event: 'image_generation.partial_image', data: '{"type":"image_generation.partial_image","b64_json":"QUJD","note":"héllo ✓"}' },
  { event: undefined, data: 'first\nsecond' },
  { event: 'error', data: '{"type":"error"}' },
  { event: 'image_generation.completed', data: '{"type":"image_generation.completed"}' },
];

describe('createSseParser', () => {
  it.each([1, 2, 3, 7, 64, 10_000])('reads the same messages whatever the chunk size (%i bytes)', (chunkSize) => {
    expect(parseInChunks(stream, chunkSize)).toEqual(expected);
  });

  it('delivers a message as soon as its blank line arrives, before the stream ends', () => {
    const messages: SseMessage[] = [];
    const parser = createSseParser((message) => messages.push(message));
    parser.push(Buffer.from('event: a\ndata: 1\n'));
    expect(messages).toEqual([]);
    parser.push(Buffer.from('\nevent: b\n'));
    expect(messages).toEqual([{ event: 'a', data: '1' }]);
  });

  it('reads a long data line sent in many small chunks', () => {
    const payload = 'x'.repeat(200_000);
    expect(parseInChunks(`data: ${payload}\n\n`, 1000)).toEqual([{ event: undefined, data: payload }]);
  });

  it('drops a leading byte-order mark and ignores an event with no data', () => {
    expect(parseInChunks('\ufeffevent: lonely\n\ndata: kept\n\n', 5)).toEqual([{ event: undefined, data: 'kept' }]);
  });
});
