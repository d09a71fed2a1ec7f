// How every CLI subcommand talks to a running gateway: its streams and fetch (injected, so tests
// swap them), the one-line failure it reports, where the gateway is, and the one HTTP call.

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  fetch: typeof fetch;
}

export const processIo = (): CliIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr, fetch: globalThis.fetch });

/** A failure the command reports in one line; `exitCode` 2 for usage mistakes, 1 for everything else. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A gateway and the bearer credential to call it with (an admin token or an API key). */
export interface GatewayTarget {
  baseUrl: string;
  credential: string;
}

/**
 * The gateway from --base-url, IMAGEGATE_BASE_URL or the local default, and the credential the
 * caller found; a missing credential is reported first, with `missingCredential` as the message.
 */
export function gatewayTarget(baseUrlFlag: string | undefined, env: CliIo['env'], credential: string | undefined, missingCredential: string): GatewayTarget {
  const baseUrl = (baseUrlFlag ?? env.IMAGEGATE_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!credential) throw new CliFailure(missingCredential, 2);
  if (!/^https?:\/\//.test(baseUrl)) throw new CliFailure(`--base-url must be an http(s) URL, got '${baseUrl}'`, 2);
  return { baseUrl, credential };
}

/** Calls `path` on the gateway; answers the JSON body, or throws CliFailure with the gateway's own message. */
export async function gatewayRequest(io: CliIo, target: GatewayTarget, method: string, path: string, body?: unknown): Promise<any> {
  let response: Response;
  try {
    response = await io.fetch(`${target.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.credential}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new CliFailure(`cannot reach ${target.baseUrl}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const message = parsed?.error?.message ?? (text.slice(0, 200) || response.statusText);
    throw new CliFailure(`${message} (HTTP ${response.status})`);
  }
  return parsed;
}
