// The one outbound HTTP client: SSRF-guarded at connect time, size- and time-limited, with keep-alive pools.

import { EventEmitter } from 'node:events';
import { lookup as systemLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, type Dispatcher } from 'undici';
import { HttpClientError, type HttpRequestOptions, type HttpResponse, type UserUrlClient } from './types.js';

export interface HttpClientConfig {
  /** Lets every address through (tests against fakes on 127.0.0.1, trusted single-tenant setups). */
  allowPrivateNetworks?: boolean;
  /**
   * Hosts this client may reach even on private addresses. An entry is a hostname (any port) or
   * `host:port`; IPv6 hosts in brackets. Which hosts a client trusts is its policy: the gateway
   * builds one client per policy (src/providers/shared/outbound-policies.ts), never one for both.
   */
  allowHosts?: string[];
  /** Consulted after allowHosts: hosts that become trusted at run time (channels an operator adds). */
  isTrustedHost?: (url: URL) => boolean;
  /** Response bodies larger than this fail with reason `too_large`. Default 50 MiB. */
  maxBytes?: number;
  /** Whole-request time limit, redirects and body included. Default 60 s. */
  timeoutMs?: number;
  /** Redirects followed (each hop re-checked) before failing with `too_many_redirects`. Default 3. */
  maxRedirects?: number;
  /** Name resolution used by the guard; defaults to the system resolver. Tests use it to fake DNS answers. */
  resolveHost?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type GuardedHttpClient = UserUrlClient & { close(): Promise<void> };

const defaultMaxBytes = 50 * 1024 * 1024;
const defaultTimeoutMs = 60_000;
const defaultMaxRedirects = 3;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** Headers still sent after a redirect to another origin: credentials (whatever their header name) are not. */
const crossOriginSafeHeaders = new Set(['accept', 'accept-language', 'user-agent', 'content-type']);

/** Raised inside the connect-time lookup; found again in the undici error's cause chain. */
class BlockedAddressError extends Error {
  readonly code = 'ERR_IMAGEGATE_BLOCKED_ADDRESS';
  constructor(hostname: string) {
    super(`${hostname} resolves only to addresses the gateway may not connect to`);
    this.name = 'BlockedAddressError';
  }
}

/**
 * Whether an IP address is a public unicast address. Everything else (loopback, private, link-local
 * incl. cloud metadata, CGNAT, unique-local, multicast, reserved, and IPv6 forms that embed IPv4
 * such as ::ffff:a.b.c.d, NAT64 and 6to4) is refused, since those can reach the gateway's own network.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const ipv6 = parsed as ipaddr.IPv6;
    if (ipv6.isIPv4MappedAddress()) parsed = ipv6.toIPv4Address();
    // Deprecated IPv4-compatible addresses (::a.b.c.d) are "unicast" to ipaddr.js but embed an IPv4 address.
    else if (ipv6.match(ipaddr.IPv6.parse('::'), 96)) return false;
  }
  return parsed.range() === 'unicast';
}

/** Builds the guarded client. Requests to the same origin share keep-alive connections. */
export function createHttpClient(config: HttpClientConfig = {}): GuardedHttpClient {
  const maxBytesDefault = config.maxBytes ?? defaultMaxBytes;
  const timeoutMsDefault = config.timeoutMs ?? defaultTimeoutMs;
  const maxRedirects = config.maxRedirects ?? defaultMaxRedirects;
  const allowPrivateNetworks = config.allowPrivateNetworks ?? false;
  const allowHosts = new Set((config.allowHosts ?? []).map((entry) => entry.trim().toLowerCase()));
  const resolveHost = config.resolveHost ?? resolveWithSystem;

  // The guard sits in the lookup the socket itself uses, so the address checked is the address
  // connected to: a DNS answer cannot change between the check and the connect (no rebinding gap).
  const guardedLookup: LookupFunction = (hostname, options, callback) => {
    resolveHost(hostname).then(
      (addresses) => {
        const wantedFamily = options.family === 4 || options.family === 6 ? options.family : undefined;
        const allowed = addresses.filter(
          (entry) => isPublicAddress(entry.address) && (wantedFamily === undefined || entry.family === wantedFamily),
        );
        const first = allowed[0];
        if (first === undefined) {
          callback(new BlockedAddressError(hostname), '', 4);
          return;
        }
        if (options.all) {
          (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, allowed.map((entry) => ({ ...entry })));
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 4),
    );
  };

  const guardedAgent = new Agent({ connect: { lookup: guardedLookup } });
  // Used for operator-trusted hosts (allowHosts) and when private networks are allowed altogether.
  const openAgent = new Agent();

  const isTrustedHost = (url: URL): boolean =>
    allowPrivateNetworks ||
    allowHosts.has(url.hostname.toLowerCase()) ||
    allowHosts.has(url.host.toLowerCase()) ||
    (config.isTrustedHost?.(url) ?? false);

  /**
   * The rule, without connecting: what request() would refuse before or while connecting is refused
   * here too (the connect-time lookup still re-checks, so a DNS answer that changes cannot slip by).
   */
  async function check(urlText: string): Promise<URL> {
    const url = parseOutboundUrl(urlText);
    if (isTrustedHost(url)) return url;
    refuseNonPublicHost(url);
    const host = bareHostname(url);
    if (ipaddr.isValid(host)) return url;
    let addresses: readonly ResolvedAddress[];
    try {
      addresses = await resolveHost(host);
    } catch (error) {
      throw new HttpClientError('invalid_url', `${describeOrigin(url)} could not be resolved`, { cause: error });
    }
    if (!addresses.some((entry) => isPublicAddress(entry.address))) {
      throw new HttpClientError('blocked_address', `${describeOrigin(url)} resolves only to addresses that are not public`);
    }
    return url;
  }

  // A channel calls the same few endpoints over and over: each text is parsed and checked once. The
  // URLs are never changed once made (a redirect makes a new one), so sharing them is safe; the map is
  // emptied when full, so texts from request bodies cannot grow it.
  const parsedUrls = new Map<string, URL>();
  const parsedUrl = (text: string): URL => {
    let url = parsedUrls.get(text);
    if (url === undefined) {
      url = parseOutboundUrl(text);
      if (parsedUrls.size >= 256) parsedUrls.clear();
      parsedUrls.set(text, url);
    }
    return url;
  };

  async function request(urlText: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
    const maxBytes = options.maxBytes ?? maxBytesDefault;
    const callerSignal = options.signal;
    if (callerSignal?.aborted) throw new HttpClientError('aborted', 'The request was aborted before it started', { cause: callerSignal.reason });

    let url = parsedUrl(urlText);
    let method: string = options.method ?? (options.json !== undefined || options.body !== undefined ? 'POST' : 'GET');
    let headers = buildHeaders(options);
    let body: string | Buffer | undefined;
    if (options.json !== undefined) body = JSON.stringify(options.json);
    else if (options.body instanceof FormData) {
      const encoded = await encodeMultipart(options.body);
      body = encoded.bytes;
      headers['content-type'] = encoded.contentType;
    } else body = options.body;

    // One cancel for the caller's abort and the time limit. An EventEmitter, which undici takes as a
    // signal as readily as an AbortSignal (Dispatcher.request's `signal: AbortSignal | EventEmitter`):
    // an AbortController per upstream call cost about as much again as the rest of this setup, and the
    // request already has one (src/core/request-abort.ts). AbortSignal.timeout + AbortSignal.any cost
    // about five times as much, and their timers outlive the request by the whole limit.
    const signal = new UpstreamCancel();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signal.cancel(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }, options.timeoutMs ?? timeoutMsDefault);
    timer.unref();
    const onCallerAbort = () => signal.cancel(callerSignal?.reason);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    // Aborted while a multipart body was being encoded: the event has already been missed.
    if (callerSignal?.aborted) onCallerAbort();

    try {
      for (let hop = 0; ; hop += 1) {
        const trusted = isTrustedHost(url);
        if (!trusted) refuseNonPublicHost(url);
        // The dispatcher's own request(), as undici's top-level request(url, options) calls it, without
        // that helper's `{ ...options, origin, path }` (docs/architecture.md: no hidden class per request).
        const response = await (trusted ? openAgent : guardedAgent).request({
          origin: url.origin,
          path: url.search ? `${url.pathname}${url.search}` : url.pathname,
          method: method as Dispatcher.HttpMethod,
          headers,
          body: body ?? null,
          signal,
        });

        const location = response.headers['location'];
        if (redirectStatuses.has(response.statusCode) && typeof location === 'string') {
          await response.body.dump().catch(() => undefined);
          if (hop >= maxRedirects) {
            throw new HttpClientError('too_many_redirects', `More than ${maxRedirects} redirects from ${describeOrigin(url)}`);
          }
          const next = parseOutboundUrl(new URL(location, url).toString());
          // 303, and 301/302 after a POST, continue as a GET without the body, as browsers do.
          if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) {
            if (method !== 'GET') {
              method = 'GET';
              body = undefined;
              headers = withoutHeaders(headers, ['content-type', 'content-length']);
            }
          }
          if (next.origin !== url.origin) headers = onlyCrossOriginSafeHeaders(headers);
          url = next;
          continue;
        }

        const declaredLength = Number(response.headers['content-length']);
        if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
          discard(response.body);
          throw tooLarge(url, maxBytes);
        }
        const head = { status: response.statusCode, headers: flattenHeaders(response.headers) };
        const chunks = await readBody(response.body, { maxBytes, url, head, ...(options.onBodyChunk === undefined ? {} : { onChunk: options.onBodyChunk }) });
        return new ReadResponse(head.status, head.headers, chunks, url.toString());
      }
    } catch (error) {
      throw classifyFailure(error, url, callerSignal, timedOut);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  return {
    request,
    check,
    close: async () => {
      await Promise.all([guardedAgent.close(), openAgent.close()]);
    },
  };
}

/**
 * An answer read whole. Joined only if `body` is read: a reader that scans the pieces (json-base64.ts)
 * never copies 2 MB of base64 into one buffer. A class, not an object literal with a `get body()`,
 * which this V8 makes a dictionary (docs/architecture.md: no hidden class per request). Spreading one
 * loses `body` (a prototype accessor): copy the fields you need instead.
 */
class ReadResponse implements HttpResponse {
  #joined: Buffer | undefined;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly chunks: readonly Buffer[],
    readonly url: string,
  ) {}

  get body(): Buffer {
    this.#joined ??= this.chunks.length === 1 && this.chunks[0] ? this.chunks[0] : Buffer.concat(this.chunks);
    return this.#joined;
  }
}

/**
 * What undici aborts a call with: an EventEmitter with AbortSignal's `aborted` and `reason`, which
 * undici listens to as to an AbortSignal (see its `addSignal`), at a fraction of an AbortController's cost.
 */
class UpstreamCancel extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  cancel(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/**
 * A response body's chunks, at most maxBytes of them (past that the connection is closed and the
 * read fails with too_large). Read from the stream's events rather than its async iterator, which
 * costs a promise per chunk and an end-of-stream watcher per body. An abort destroys the body with its
 * reason, which fails the read as it did the iterator.
 */
function readBody(
  body: Dispatcher.ResponseData['body'],
  options: { maxBytes: number; url: URL; head: { status: number; headers: Record<string, string> }; onChunk?: HttpRequestOptions['onBodyChunk'] },
): Promise<Buffer[]> {
  const { maxBytes, url, head, onChunk } = options;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      if (error === undefined) resolve(chunks);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      received += chunk.length;
      if (received > maxBytes) {
        finish(tooLarge(url, maxBytes));
        discard(body);
        return;
      }
      chunks.push(chunk);
      try {
        onChunk?.(chunk, head);
      } catch (error) {
        finish(error);
        discard(body);
      }
    };
    const onEnd = (): void => finish(undefined);
    const onError = (error: unknown): void => finish(error);
    // Destroyed without an error and without its end: the body was cut short.
    const cutShort = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    const onClose = (): void => finish(cutShort());
    // Destroyed before it was read (an abort between the head and here): its events may be gone already.
    if (body.destroyed) {
      reject(body.errored ?? cutShort());
      return;
    }
    body.on('data', onData);
    body.once('end', onEnd);
    body.on('error', onError);
    body.once('close', onClose);
  });
}

async function resolveWithSystem(hostname: string): Promise<readonly ResolvedAddress[]> {
  const options: LookupAllOptions = { all: true };
  return new Promise((resolve, reject) => {
    systemLookup(hostname, options, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 })));
    });
  });
}

/**
 * Only http(s), never credentials in the URL (they would be sent to whoever the URL names), and
 * nothing that URL parsers read differently: with a backslash, `http://evil.com\\@10.0.0.1/` is
 * evil.com to WHATWG parsers and 10.0.0.1 to RFC 3986 ones; whitespace and control characters
 * are dropped or kept depending on the parser too.
 */
function parseOutboundUrl(text: string): URL {
  // eslint-disable-next-line no-control-regex
  if (/[\\\s\u0000-\u001f\u007f]/.test(text)) {
    throw new HttpClientError('invalid_url', 'URLs with backslashes, spaces or control characters are not fetched');
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new HttpClientError('invalid_url', 'The URL is not a valid absolute URL', { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HttpClientError('invalid_url', `Only http and https URLs may be fetched, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new HttpClientError('invalid_url', 'URLs with credentials (user:password@host) are not fetched');
  }
  return url;
}

/** The hostname without IPv6 brackets or the trailing dot of a fully qualified name. */
function bareHostname(url: URL): string {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * The socket skips name lookup for literal IP hosts, so those are checked here instead; and names
 * that are local by definition (RFC 6761 `localhost`, mDNS `.local`, `.internal`) are refused
 * whatever a resolver would answer for them.
 */
function refuseNonPublicHost(url: URL): void {
  const host = bareHostname(url).toLowerCase();
  if (ipaddr.isValid(host)) {
    if (!isPublicAddress(host)) throw new HttpClientError('blocked_address', `${describeOrigin(url)} is not a public address`);
    return;
  }
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')) {
    throw new HttpClientError('blocked_address', `${describeOrigin(url)} names a local host`);
  }
}

function buildHeaders(options: HttpRequestOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  // for…in over own keys, not Object.entries: no array of pairs per call (this runs for every upstream call).
  const given = options.headers;
  if (given !== undefined) for (const name in given) if (Object.hasOwn(given, name)) headers[name.toLowerCase()] = given[name] as string;
  if (options.json !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  headers['user-agent'] ??= 'imagegate';
  return headers;
}

/**
 * Encodes a multipart body once, up front: Node's global FormData cannot be streamed by undici 7
 * (their internals differ), and bytes can be sent again after a 307/308 redirect. The content type
 * carries the boundary, so any type the caller set is replaced.
 */
async function encodeMultipart(form: FormData): Promise<{ bytes: Buffer; contentType: string }> {
  const encoded = new Response(form);
  const contentType = encoded.headers.get('content-type');
  // The Fetch standard always labels a FormData body; this guards the types, not a real case.
  if (contentType === null) throw new Error('multipart encoding produced no content type');
  return { bytes: Buffer.from(await encoded.arrayBuffer()), contentType };
}

function withoutHeaders(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)));
}

function onlyCrossOriginSafeHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => crossOriginSafeHeaders.has(name)));
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  // for…in over own keys, not Object.entries: no array of pairs per response.
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/** Drops the rest of a body by closing its connection; the abort error that follows is expected. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Origin only: a query string can carry an API key (e.g. Google's `?key=`). */
function describeOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function tooLarge(url: URL, maxBytes: number): HttpClientError {
  return new HttpClientError('too_large', `The response from ${describeOrigin(url)} is larger than ${maxBytes} bytes`);
}

function classifyFailure(error: unknown, url: URL, callerSignal: AbortSignal | undefined, timedOut: boolean): HttpClientError {
  if (error instanceof HttpClientError) return error;
  if (callerSignal?.aborted) return new HttpClientError('aborted', `The request to ${describeOrigin(url)} was aborted`, { cause: error });
  if (timedOut) return new HttpClientError('timeout', `The request to ${describeOrigin(url)} timed out`, { cause: error });
  if (findInCauses(error, (candidate) => candidate instanceof BlockedAddressError)) {
    return new HttpClientError('blocked_address', `${describeOrigin(url)} resolves to an address that is not public`, { cause: error });
  }
  return new HttpClientError('network', `The request to ${describeOrigin(url)} failed`, { cause: error });
}

function findInCauses(error: unknown, predicate: (candidate: unknown) => boolean, depth = 0): boolean {
  if (error === undefined || error === null || depth > 8) return false;
  if (predicate(error)) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => findInCauses(inner, predicate, depth + 1))) return true;
  return error instanceof Error && findInCauses(error.cause, predicate, depth + 1);
}
