// Generated ids: OpenAI-like tokens, unique, and in creation order, so the indexes they key (request
// log, reservations, usage rows) grow at their right edge instead of at random pages.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { newLogEntryId, newRequestId, requestIdFrom } from './request-id.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('generated request and log ids', () => {
  it('are req_/log_ and 32 hex digits, unique, and sort in the order they were made', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const made: string[] = [];
    for (let millisecond = 0; millisecond < 50; millisecond += 1) {
      vi.setSystemTime(1_800_000_000_000 + millisecond);
      made.push(newRequestId());
    }
    expect(made.every((id) => /^req_[0-9a-f]{32}$/.test(id))).toBe(true);
    expect([...made].sort()).toEqual(made);
    expect(newLogEntryId()).toMatch(/^log_[0-9a-f]{32}$/);

    const sameMillisecond = Array.from({ length: 10_000 }, () => newLogEntryId());
    expect(new Set(sameMillisecond).size).toBe(sameMillisecond.length);
  });

  it('keeps a caller’s sane X-Request-Id and replaces anything else', () => {
    expect(requestIdFrom('trace-7f3a.2')).toBe('trace-7f3a.2');
    expect(requestIdFrom('has space')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(requestIdFrom(undefined)).toMatch(/^req_[0-9a-f]{32}$/);
  });
});
