// A Server-Sent Events parser for upstream streams, fed chunks as they arrive: messages are
// reassembled across chunk boundaries (lines and UTF-8 sequences alike), as the WHATWG spec reads them.

export interface SseMessage {
  /** The `event:` field; undefined when the message had none (the spec's default "message"). */
  event: string | undefined;
  /** The `data:` lines joined with "\n". */
  data: string;
}

export interface SseParser {
  /** Feeds bytes; calls `onMessage` for every message completed by them. */
  push(chunk: Buffer): void;
  /** Ends the stream: a last message not followed by a blank line is still delivered. */
  end(): void;
}

export function createSseParser(onMessage: (message: SseMessage) => void): SseParser {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let event: string | undefined;
  let dataLines: string[] = [];
  let sawField = false;
  let atStart = true;

  function dispatch(): void {
    if (sawField && dataLines.length > 0) onMessage({ event, data: dataLines.join('\n') });
    event = undefined;
    dataLines = [];
    sawField = false;
  }

  function line(text: string): void {
    if (text === '') {
      dispatch();
      return;
    }
    if (text.startsWith(':')) return; // A comment: heartbeats and the like.
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') {
      event = value;
      sawField = true;
    } else if (field === 'data') {
      dataLines.push(value);
      sawField = true;
    }
    // `id`, `retry` and unknown fields carry nothing an image stream uses.
  }

  /** Where the search for the next line break resumes: a long `data:` line is not rescanned per chunk. */
  let searchFrom = 0;

  function drain(final: boolean): void {
    let start = 0;
    let index = searchFrom;
    for (; index < pending.length; index += 1) {
      const character = pending[index];
      if (character !== '\n' && character !== '\r') continue;
      // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk to tell.
      if (character === '\r' && index === pending.length - 1 && !final) break;
      line(pending.slice(start, index));
      if (character === '\r' && pending[index + 1] === '\n') index += 1;
      start = index + 1;
    }
    pending = pending.slice(start);
    searchFrom = Math.max(0, index - start);
  }

  return {
    push(chunk) {
      let text = decoder.decode(chunk, { stream: true });
      if (atStart && text.length > 0) {
        // The spec drops one byte-order mark at the start of the stream.
        if (text.startsWith('\ufeff')) text = text.slice(1);
        atStart = false;
      }
      pending += text;
      drain(false);
    },
    end() {
      pending += decoder.decode();
      drain(true);
      if (pending !== '') line(pending);
      pending = '';
      searchFrom = 0;
      dispatch();
    },
  };
}
