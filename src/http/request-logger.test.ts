// request.log made lazily: what it writes is what a per-request pino child wrote (the request id on
// every line, the levels of the parent), and a line below the level writes nothing.

import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyRequestLogger } from './request-logger.js';

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function capturingLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

describe('the lazy request logger', () => {
  it("writes each request's lines with its request id, and nothing for a level that is off", async () => {
    const { logger, lines } = capturingLogger('info');
    app = Fastify({ loggerInstance: logger, disableRequestLogging: true, childLoggerFactory: lazyRequestLogger, genReqId: () => 'req_test_1' }) as unknown as FastifyInstance;
    app.get('/quiet', async (request) => {
      request.log.debug({ detail: 'x' }, 'not written');
      return { ok: true };
    });
    app.get('/loud', async (request) => {
      request.log.warn({ detail: 'kept' }, 'written');
      request.log.child({ step: 'inner' }).info('from a child');
      return { level: request.log.level };
    });
    app.get('/fails', async () => {
      throw new Error('boom');
    });
    // As src/http/errors.ts logs a failure: through request.log, the same lazy logger as reply.log.
    app.setErrorHandler((error, request, reply) => {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ error: 'failed' });
    });

    const quiet = await app.inject({ method: 'GET', url: '/quiet' });
    expect(quiet.statusCode).toBe(200);
    expect(lines).toEqual([]);

    const loud = await app.inject({ method: 'GET', url: '/loud' });
    expect(loud.json()).toEqual({ level: 'info' });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, reqId: 'req_test_1', detail: 'kept', msg: 'written' }),
      expect.objectContaining({ level: 30, reqId: 'req_test_1', step: 'inner', msg: 'from a child' }),
    ]);

    const fails = await app.inject({ method: 'GET', url: '/fails' });
    expect(fails.statusCode).toBe(500);
    expect(lines.at(-1)).toEqual(expect.objectContaining({ level: 50, reqId: 'req_test_1', msg: 'request failed', err: expect.objectContaining({ message: 'boom' }) }));
  });
});
