// How a task looks in the API dialect it was submitted in (BFL, Replicate, Midjourney-proxy): the
// dialects register a renderer under their name, and the webhook dispatcher delivers a dialect's
// task in that dialect's shape instead of the OpenAI-style task object.

import type { DialectContext } from '../core/image-request.js';
import type { TaskRecord } from '../core/ports/task-store.js';
import type { ResultRenderer } from './stored-result.js';

export type DialectTaskRenderer = (task: TaskRecord, renderer: ResultRenderer, dialect: DialectContext) => Promise<unknown>;

/** The dialect a task was submitted in, read from its stored request (absent for the OpenAI API). */
export function dialectOf(task: TaskRecord): DialectContext | undefined {
  const fields = (task.request as { fields?: { dialect?: unknown } }).fields;
  const dialect = fields?.dialect as Partial<DialectContext> | undefined;
  if (dialect === undefined || typeof dialect.name !== 'string' || typeof dialect.data !== 'object' || dialect.data === null) return undefined;
  return { name: dialect.name, data: dialect.data };
}

export class DialectRenderers {
  readonly #renderers = new Map<string, DialectTaskRenderer>();

  register(name: string, renderer: DialectTaskRenderer): void {
    this.#renderers.set(name, renderer);
  }

  /** The task in its dialect's shape, or undefined when it was not submitted through a registered dialect. */
  async render(task: TaskRecord, renderer: ResultRenderer): Promise<unknown> {
    const dialect = dialectOf(task);
    const render = dialect === undefined ? undefined : this.#renderers.get(dialect.name);
    return render === undefined || dialect === undefined ? undefined : render(task, renderer, dialect);
  }
}
