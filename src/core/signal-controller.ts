// An abort controller for work made once per request or task, whose signals share one hidden class.
//
// Node 20 makes each AbortSignal by creating an EventTarget, swapping its prototype for
// AbortSignal.prototype and then adding its fields (lib/internal/abort_controller.js,
// createAbortSignal). V8 caches no property transition from a map whose prototype was swapped, so
// every signal gets a hidden class (a Map in the old space) of its own; measured here with
// %HaveSameMap, and the same holds for any EventTarget given a new prototype and then a property.
// Made once per request, that costs far more than the maps: every scavenge then kept and promoted
// nearly everything allocated since the one before — about 1 MB a scavenge at any rate, whole
// requests' garbage (7 KB per relayed request), scavenges of 4–5 ms where a bare relay's take 0.6,
// and a mark-compact every few seconds (bench/gc-promotion.ts; a 20-line script creating one signal
// per event-loop turn beside unrelated garbage reproduces it: docs/performance.md, "Session 7").
// Why V8 then keeps the unrelated garbage was not established; the cause and the cure were measured.
//
// RequestSignal is an EventTarget subclass, so all its instances share one hidden class and its
// listeners behave as an AbortSignal's do (order, `once`, removal; none called when added after the
// abort) because EventTarget runs them. It has the AbortSignal members the gateway uses: aborted,
// reason, throwIfAborted, onabort and the 'abort' event. It is not one of Node's AbortSignals:
// an API that checks for a genuine one (AbortSignal.any, fetch's `signal`) must get its own.

const abortSignal = Symbol('abort');

export class RequestSignal extends EventTarget implements AbortSignal {
  #aborted = false;
  #reason: unknown = undefined;
  onabort: ((this: AbortSignal, event: Event) => unknown) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  /** Aborts once: later calls change nothing, as AbortController.abort does. */
  [abortSignal](reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const event = new Event('abort');
    this.onabort?.call(this, event);
    this.dispatchEvent(event);
  }
}

/** AbortController's shape (signal, abort) over a RequestSignal. */
export class SignalController {
  readonly signal = new RequestSignal();

  /** Without a reason, the signal's reason is the DOMException named AbortError that AbortController uses. */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    this.signal[abortSignal](reason);
  }
}
