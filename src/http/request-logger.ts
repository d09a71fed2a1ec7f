// Each request's logger (request.log), bound to its request id only once something is logged. Fastify
// makes a pino child per request by default, which serialises the bindings and builds a logger object
// for every request although nearly none logs anything (the request log table records each one).

import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, LevelWithSilentOrString, Logger } from 'pino';

/** The gateway's logger is pino's; another logger lacks these, and then every line makes the child. */
type ParentLogger = FastifyBaseLogger & Partial<Pick<Logger, 'isLevelEnabled' | 'bindings'>>;

/** Holds the parent and the bindings; the pino child is made at the first line that is logged. */
class LazyChildLogger {
  #child: ParentLogger | undefined;
  readonly #parent: ParentLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;

  constructor(parent: ParentLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #real(): ParentLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options);
    return this.#child;
  }

  #write(level: Level, args: unknown[]): void {
    // A level that is off costs nothing: no child is made for a debug line nobody reads.
    if (this.#child === undefined && this.#parent.isLevelEnabled?.(level) === false) return;
    (this.#real()[level] as (...parameters: unknown[]) => void)(...args);
  }

  get level(): LevelWithSilentOrString {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: LevelWithSilentOrString) {
    this.#real().level = level;
  }

  isLevelEnabled(level: LevelWithSilentOrString): boolean {
    return (this.#child ?? this.#parent).isLevelEnabled?.(level) ?? true;
  }

  bindings(): Bindings {
    return this.#child?.bindings?.() ?? { ...this.#parent.bindings?.(), ...this.#bindings };
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#write('error', args);
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }
  info(...args: unknown[]): void {
    this.#write('info', args);
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }
  silent(): void {}
}

/** Fastify's childLoggerFactory: what request.log and reply.log are. */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // The log methods take pino's LogFn overloads; they only pass their arguments on.
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
