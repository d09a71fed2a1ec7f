// ComfyUI workflow templates: an operator's API-format workflow (ComfyUI's "Save (API format)") with
// named placeholders that the gateway fills for each call.
//
// A placeholder is a whole JSON string `"{{name}}"` or `"{{name:default}}"`; it is replaced by a value
// of the right type (a number stays a number, so `"width": "{{width}}"` becomes `"width": 1024`). Inside
// a longer string (`"a photo of {{prompt}}"`) it is replaced as text.

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

export type Workflow = Record<string, { class_type: string; inputs: Record<string, unknown>; [extra: string]: unknown }>;

/** What the gateway fills in; client-chosen sampling values arrive here from extra request fields. */
export type PlaceholderValues = Partial<Record<PlaceholderName, string | number>>;

export const placeholderNames = ['prompt', 'negative_prompt', 'width', 'height', 'seed', 'steps', 'cfg', 'denoise', 'batch_size', 'checkpoint', 'image', 'mask'] as const;
export type PlaceholderName = (typeof placeholderNames)[number];
/** The placeholders a request may set through extra fields (the rest are the gateway's). */
export const clientPlaceholders: ReadonlySet<string> = new Set(['negative_prompt', 'steps', 'cfg', 'denoise']);

const wholePlaceholder = /^\{\{([a-z_]+)(?::([^}]*))?\}\}$/;
const embeddedPlaceholder = /\{\{([a-z_]+)(?::([^}]*))?\}\}/g;

/** The two templates that ship with the gateway (catalog/comfyui), by the names channels use for them. */
export const builtinWorkflows: Readonly<Record<string, URL>> = {
  'builtin:sdxl-txt2img': new URL('../../../catalog/comfyui/sdxl-txt2img.json', import.meta.url),
  'builtin:sdxl-img2img': new URL('../../../catalog/comfyui/sdxl-img2img.json', import.meta.url),
};

/** Reads a template (a builtin name or a file path), checking that it is an API-format workflow. */
export function loadWorkflow(reference: string, channel: string): Workflow {
  const builtin = builtinWorkflows[reference];
  const path = builtin ?? (isAbsolute(reference) ? reference : resolve(reference));
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TypeError(`channel ${channel}: cannot read the ComfyUI workflow ${reference}: ${(error as Error).message}`);
  }
  if (!isApiFormat(parsed)) {
    throw new TypeError(`channel ${channel}: ${reference} is not an API-format ComfyUI workflow (export it with "Save (API format)")`);
  }
  for (const name of placeholdersIn(parsed)) {
    if (!(placeholderNames as readonly string[]).includes(name)) {
      throw new TypeError(`channel ${channel}: ${reference} uses an unknown placeholder {{${name}}}; known: ${placeholderNames.join(', ')}`);
    }
  }
  return parsed;
}

function isApiFormat(value: unknown): value is Workflow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const nodes = Object.values(value);
  return nodes.length > 0 && nodes.every((node) => typeof node === 'object' && node !== null && typeof (node as { class_type?: unknown }).class_type === 'string' && typeof (node as { inputs?: unknown }).inputs === 'object');
}

/** Every placeholder name the workflow uses. */
export function placeholdersIn(workflow: Workflow): Set<string> {
  const names = new Set<string>();
  walkStrings(workflow, (text) => {
    for (const match of text.matchAll(embeddedPlaceholder)) names.add(match[1] ?? '');
    return text;
  });
  return names;
}

/** A copy of `workflow` with every placeholder filled; one without a value and without a default is an error. */
export function fillWorkflow(workflow: Workflow, values: PlaceholderValues): Workflow {
  return walkStrings(structuredClone(workflow), (text) => {
    const whole = wholePlaceholder.exec(text);
    if (whole !== null) return valueOf(whole[1] ?? '', whole[2], true);
    return text.replace(embeddedPlaceholder, (_, name: string, fallback: string | undefined) => String(valueOf(name, fallback, false)));
  });

  function valueOf(name: string, fallback: string | undefined, typed: boolean): string | number {
    const value = values[name as PlaceholderName];
    if (value !== undefined) return value;
    if (fallback === undefined) throw new TypeError(`the workflow needs a value for {{${name}}}`);
    // A default that reads as a number is one, like the value it stands for.
    return typed && fallback !== '' && Number.isFinite(Number(fallback)) ? Number(fallback) : fallback;
  }
}

function walkStrings<T>(value: T, replace: (text: string) => unknown): T {
  if (typeof value === 'string') return replace(value) as T;
  if (Array.isArray(value)) return value.map((item) => walkStrings(item, replace)) as T;
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) (value as Record<string, unknown>)[key] = walkStrings(item, replace);
  }
  return value;
}
