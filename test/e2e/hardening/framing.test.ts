// Issue 9, item 10: every answer the gateway writes is OpenAI-shaped with an x-request-id, including
// framing errors Node's HTTP parser reports to the app (bad or duplicate Content-Length, Transfer-
// Encoding with Content-Length, oversized headers) and router errors (a path parameter too long).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { expectOpenAIShapedError, rawRequest } from './raw-http.js';

let gateway: TestGateway;
let auth: string;

beforeAll(async () => {
  gateway = await startTestGateway();
  auth = `Authorization: Bearer ${gateway.apiKey}\r\n`;
});
afterAll(async () => {
  await gateway.close();
});

const post = (headers: string, body = '') => `POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\n${auth}Content-Type: application/json\r\n${headers}\r\n${body}`;

describe('framing errors answer in OpenAI shape with a request id', () => {
  it('a Content-Length that is not a number', async () => {
    const response = await rawRequest(gateway.url, post('Content-Length: 12abc\r\n', '{}'));
    const error = expectOpenAIShapedError(response, 400, 'invalid_request');
    expect(error.message).toMatch(/Content-Length/i);
    expect(response.headers.connection).toBe('close');
  });

  it('two Content-Length headers that disagree', async () => {
    const response = await rawRequest(gateway.url, post('Content-Length: 2\r\nContent-Length: 3\r\n', '{}'));
    expectOpenAIShapedError(response, 400, 'invalid_request');
  });

  it('Transfer-Encoding together with Content-Length (request smuggling)', async () => {
    const response = await rawRequest(gateway.url, post('Transfer-Encoding: chunked\r\nContent-Length: 2\r\n', '2\r\n{}\r\n0\r\n\r\n'));
    expectOpenAIShapedError(response, 400, 'invalid_request');
  });

  it('headers larger than the server accepts → 431', async () => {
    const response = await rawRequest(gateway.url, post(`X-Padding: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n`, '{}'));
    const error = expectOpenAIShapedError(response, 431, 'request_header_fields_too_large');
    expect(error.message).toMatch(/header/i);
  });

  it('a request line that is not HTTP', async () => {
    const response = await rawRequest(gateway.url, 'HELLO THERE\r\n\r\n');
    expectOpenAIShapedError(response, 400, 'invalid_request');
  });

  it('a path parameter over the router limit', async () => {
    const response = await rawRequest(gateway.url, `GET /v1/images/tasks/${'t'.repeat(300)} HTTP/1.1\r\nHost: gateway\r\n${auth}Connection: close\r\n\r\n`);
    const error = expectOpenAIShapedError(response, 404, 'not_found');
    expect(error.message).toMatch(/longer than/);
  });

  it('a malformed percent-encoding in the path', async () => {
    const response = await rawRequest(gateway.url, `GET /v1/images/tasks/%E0%A4%A HTTP/1.1\r\nHost: gateway\r\n${auth}Connection: close\r\n\r\n`);
    expectOpenAIShapedError(response, 400, 'invalid_value');
  });

  it('the caller’s own request id is echoed on framing-level errors of the router', async () => {
    const response = await rawRequest(gateway.url, `GET /v1/images/tasks/${'t'.repeat(300)} HTTP/1.1\r\nHost: gateway\r\nX-Request-Id: trace-42\r\nConnection: close\r\n\r\n`);
    expect(response.headers['x-request-id']).toBe('trace-42');
  });

  it('the gateway still serves after every malformed request', async () => {
    const response = await fetch(`${gateway.url}/healthz`);
    expect(response.status).toBe(200);
  });
});
