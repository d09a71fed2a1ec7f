// One poller per upstream account (base URL + secret) in this process: every task a worker waits on
// is looked at by one `POST /mj/task/list-by-condition {"ids": [...]}` per interval, however many
// are in flight (relays poll the same way: new-api's midjourneyPollRunner posts
// `/mj/task/list-by-condition` with `mj-api-secret`). Builds without that route (older
// novicezk/midjourney-proxy: TaskController has only `/list` and `/{id}/fetch`) answer 404; the
// poller then asks `GET /mj/task/{id}/fetch` for each task instead.

import type { HttpClient, HttpResponse } from '../shared/types.js';
import { errorFromTransportFailure, errorFromUpstreamResponse } from '../shared/upstream-errors.js';
import { midjourneyProxyProviderName, parseTask, parseTaskList, type MjTask } from './wire.js';

/** midjourney-proxy's list takes any number of ids; a bound keeps one request small. */
const idsPerCall = 100;

interface Waiter {
  resolve: (task: MjTask | undefined) => void;
  reject: (error: unknown) => void;
}

export interface UpstreamAccount {
  baseURL: string;
  /** Sent as `mj-api-secret` (novicezk ApiAuthorizeInterceptor: the header must equal mj.api-secret, else 401). */
  secret: string;
  http: HttpClient;
  intervalMs: number;
}

export class TaskPoller {
  readonly #waiters = new Map<string, Waiter[]>();
  #timer: NodeJS.Timeout | undefined;
  #listByCondition = true;
  /** list-by-condition calls made (tests read it). */
  listCalls = 0;

  constructor(readonly account: UpstreamAccount) {}

  /** The task as the next poll sees it (undefined: the upstream does not know it). */
  observe(id: string, signal: AbortSignal): Promise<MjTask | undefined> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (task) => {
          signal.removeEventListener('abort', onAbort);
          resolve(task);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = (): void => {
        const list = this.#waiters.get(id)?.filter((entry) => entry !== waiter) ?? [];
        if (list.length === 0) this.#waiters.delete(id);
        else this.#waiters.set(id, list);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), waiter]);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.#tick(), this.account.intervalMs);
  }

  async #tick(): Promise<void> {
    const batch = new Map(this.#waiters);
    this.#waiters.clear();
    this.#timer = undefined;
    const ids = [...batch.keys()];
    for (let start = 0; start < ids.length; start += idsPerCall) {
      const chunk = ids.slice(start, start + idsPerCall);
      try {
        const found = await this.#look(chunk);
        for (const id of chunk) for (const waiter of batch.get(id) ?? []) waiter.resolve(found.get(id));
      } catch (error) {
        for (const id of chunk) for (const waiter of batch.get(id) ?? []) waiter.reject(error);
      }
    }
    if (this.#waiters.size > 0) this.#schedule();
  }

  async #look(ids: string[]): Promise<Map<string, MjTask>> {
    const found = new Map<string, MjTask>();
    if (this.#listByCondition) {
      this.listCalls += 1;
      const response = await this.#send('/mj/task/list-by-condition', { method: 'POST', json: { ids } });
      if (response.status === 404) {
        this.#listByCondition = false;
      } else {
        if (response.status !== 200) throw errorFromUpstreamResponse(midjourneyProxyProviderName, response, { secrets: [this.account.secret] });
        for (const task of parseTaskList(response.body)) found.set(task.id, task);
        return found;
      }
    }
    for (const id of ids) {
      const response = await this.#send(`/mj/task/${encodeURIComponent(id)}/fetch`, { method: 'GET' });
      if (response.status === 404) continue;
      if (response.status !== 200) throw errorFromUpstreamResponse(midjourneyProxyProviderName, response, { secrets: [this.account.secret] });
      // novicezk's fetch answers an empty body (null) for an unknown id.
      if (response.body.length === 0 || response.body.toString('utf8').trim() === 'null') continue;
      found.set(id, parseTask(response.body));
    }
    return found;
  }

  async #send(path: string, init: { method: 'GET' | 'POST'; json?: unknown }): Promise<HttpResponse> {
    const headers: Record<string, string> = this.account.secret === '' ? {} : { 'mj-api-secret': this.account.secret };
    try {
      return await this.account.http.request(`${this.account.baseURL}${path}`, { ...init, headers, timeoutMs: 30_000, maxBytes: 10 * 1024 * 1024 });
    } catch (error) {
      throw errorFromTransportFailure(midjourneyProxyProviderName, error);
    }
  }
}

const pollers = new Map<string, TaskPoller>();

/** The poller of an upstream account, shared by every model and task of it in this process. */
export function pollerFor(account: UpstreamAccount): TaskPoller {
  const key = `${account.baseURL}\n${account.secret}`;
  let poller = pollers.get(key);
  if (poller === undefined || poller.account.http !== account.http) {
    poller = new TaskPoller(account);
    pollers.set(key, poller);
  }
  return poller;
}
