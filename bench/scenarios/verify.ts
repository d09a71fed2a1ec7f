// One request before the load, checking that imagegate really answers what the scenario claims to
// measure; a fast wrong answer must never pass for throughput.

import type { LoadTarget } from '../load.js';

export async function send(target: LoadTarget): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(target.url, { method: target.method, headers: target.headers, ...(target.body === undefined ? {} : { body: target.body }) });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${target.url} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body };
}

/** `data[0]` of an ImagesResponse, or an error saying what came back instead. */
export function firstImage(answer: { status: number; body: Record<string, unknown> }, what: string): Record<string, unknown> {
  const data = answer.body['data'];
  const first = Array.isArray(data) ? (data[0] as Record<string, unknown> | undefined) : undefined;
  if (answer.status !== 200 || first === undefined) {
    throw new Error(`${what}: expected HTTP 200 with data[0], got HTTP ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  }
  return first;
}

export async function download(url: string): Promise<{ status: number; contentType: string | null; bytes: Buffer }> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) };
}
