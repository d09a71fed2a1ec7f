// Small shared pieces: loading an admin API resource, labelled fields, messages and a uPlot chart.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, errorText } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => Promise<void>;
}

/** GETs `path` now, whenever it changes, and every `refreshMs` if given. */
export function useLoad<T = any>(path: string | null, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const reload = useCallback(async () => {
    if (path === null) return;
    try {
      setData(await api<T>(path));
      setError(undefined);
    } catch (failure) {
      setError(errorText(failure));
    }
  }, [path]);
  useEffect(() => {
    void reload();
    if (refreshMs === undefined) return undefined;
    const timer = setInterval(() => void reload(), refreshMs);
    return () => clearInterval(timer);
  }, [reload, refreshMs]);
  return { data, error, reload };
}

export function ErrorMessage({ error }: { error: string | undefined }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p role="status" class="notice">
      {children}
    </p>
  );
}

let fieldCounter = 0;

/** An input with its label; every control in the console has an accessible name. */
export function Field(props: { label: string; value: string; onInput: (value: string) => void; type?: 'text' | 'password' | 'number' | 'date'; placeholder?: string; required?: boolean; hint?: string; multiline?: boolean }) {
  const id = useRef(`field-${++fieldCounter}`).current;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.multiline ? (
        <textarea id={id} value={props.value} placeholder={props.placeholder} required={props.required} rows={4} onInput={(event) => props.onInput(event.currentTarget.value)} />
      ) : (
        // Preact's input types tie `type` to a union per kind; the kinds used here are all text-like.
        <input id={id} {...({ type: props.type ?? 'text' } as any)} value={props.value} placeholder={props.placeholder} required={props.required} onInput={(event) => props.onInput(event.currentTarget.value)} />
      )}
      {props.hint ? <small>{props.hint}</small> : null}
    </div>
  );
}

export function Select(props: { label: string; value: string; onChange: (value: string) => void; options: Array<{ value: string; label: string }> }) {
  const id = useRef(`field-${++fieldCounter}`).current;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(event) => props.onChange(event.currentTarget.value)}>
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Checkbox(props: { label: string; checked: boolean; onChange: (checked: boolean) => void }) {
  const id = useRef(`field-${++fieldCounter}`).current;
  return (
    <div class="field checkbox">
      <input id={id} type="checkbox" checked={props.checked} onChange={(event) => props.onChange(event.currentTarget.checked)} />
      <label for={id}>{props.label}</label>
    </div>
  );
}

const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];

/** A time-series chart (uPlot); its accessible name says what it shows and the total. */
export function Chart(props: { title: string; times: number[]; series: Array<{ label: string; values: number[]; format?: (value: number) => string }> }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return undefined;
    const plot = new uPlot(
      {
        width: Math.max(280, element.clientWidth || 480),
        height: 180,
        legend: { show: true },
        series: [{}, ...props.series.map((series, index) => ({ label: series.label, stroke: palette[index % palette.length], width: 2, ...(series.format ? { value: (_: uPlot, value: number | null) => (value === null ? '—' : series.format?.(value) ?? String(value)) } : {}) }))],
        axes: [{}, { size: 60 }],
      },
      [props.times, ...props.series.map((series) => series.values)],
      element,
    );
    return () => plot.destroy();
  }, [props.times, props.series]);
  const summary = props.series.map((series) => `${series.label}: ${series.values.reduce((sum, value) => sum + value, 0)}`).join(', ');
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={container} role="img" aria-label={`${props.title} (totals: ${summary})`} />
    </figure>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}
