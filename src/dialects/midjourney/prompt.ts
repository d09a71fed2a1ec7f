// Midjourney's prompt parameters (`--ar 16:9`, `--seed 42`, `--no …`, `--v 6.1` …) read from the end of
// a prompt: Midjourney-proxy sends them inside `prompt`, as Midjourney takes them
// (shared/specs/providers/midjourney-proxy.md: "Size/aspect: no fields — appended to prompt").

export interface ParsedPrompt {
  /** The prompt without its parameters: what the image model is asked for. */
  text: string;
  aspectRatio?: string;
  seed?: number;
  /** `--no x`: a negative prompt, passed to models that take one. */
  negative?: string;
  /** Parameters that only mean something to Midjourney itself (--v, --niji, --q, --s, --chaos …). */
  ignored: string[];
}

const parameter = /\s--([a-z]+)(?:\s+([^\s-][^\s]*(?:\s+[^\s-][^\s]*)*?))?(?=\s--|\s*$)/gi;

export function parsePrompt(prompt: string): ParsedPrompt {
  const parsed: ParsedPrompt = { text: prompt.trim(), ignored: [] };
  const start = prompt.search(/\s--[a-z]/i);
  if (start < 0) return parsed;
  parsed.text = prompt.slice(0, start).trim();
  for (const match of ` ${prompt.slice(start).trim()}`.matchAll(parameter)) {
    const name = (match[1] ?? '').toLowerCase();
    const value = match[2]?.trim();
    if ((name === 'ar' || name === 'aspect') && value !== undefined && /^\d+:\d+$/.test(value)) parsed.aspectRatio = value;
    else if (name === 'seed' && value !== undefined && /^\d+$/.test(value) && Number(value) <= 4_294_967_295) parsed.seed = Number(value);
    else if (name === 'no' && value !== undefined) parsed.negative = value;
    else parsed.ignored.push(`--${name}${value === undefined ? '' : ` ${value}`}`);
  }
  return parsed;
}
