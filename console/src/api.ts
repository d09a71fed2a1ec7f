// Talks to the gateway: the admin API under /admin/v1 (everything the console shows comes from it,
// as the CLI's does) and the Images API for the playground, both with the session cookie and the
// session's CSRF token on every change.

export interface Session {
  role: 'operator' | 'key';
  key_id: string | null;
  csrf_token: string | null;
}

let csrfToken = '';

export function rememberCsrf(token: string | null): void {
  csrfToken = token ?? '';
}

/** An answer in OpenAI's error shape, kept whole so the page can show its message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: string } };
    return new ApiError(response.status, body.error?.message ?? `HTTP ${response.status}`, body.error?.code ?? null);
  } catch {
    return new ApiError(response.status, text.slice(0, 300) || `HTTP ${response.status}`, null);
  }
}

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { 'x-csrf-token': csrfToken, ...extra };
}

export async function api<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(`/admin/v1${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers: headers(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A call to the Images API with the session (the playground); `keyId` names the key an operator bills. */
export async function imagesApi(path: string, body: BodyInit, options: { keyId: string | null; json: boolean }): Promise<Response> {
  const extra: Record<string, string> = {};
  if (options.json) extra['content-type'] = 'application/json';
  if (options.keyId) extra['x-imagegate-key-id'] = options.keyId;
  const response = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: headers(extra), body });
  if (!response.ok) throw await failure(response);
  return response;
}

export async function imagesGet<T = any>(path: string, keyId: string | null): Promise<T> {
  const response = await fetch(path, { credentials: 'same-origin', headers: keyId ? { 'x-imagegate-key-id': keyId } : {} });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

export const usd = (credits: number | null | undefined): string => (credits === null || credits === undefined ? '—' : `$${(credits / 1_000_000).toFixed(credits % 10_000 === 0 ? 2 : 4)}`);
export const when = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? '—' : new Date(seconds * 1000).toLocaleString());
export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
