// The minimal slice of Replicate's prediction object the adapter reads, validated on the way in.

import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const replicateProviderName = 'replicate';

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

const predictionStatuses: readonly PredictionStatus[] = ['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted'];

export interface Prediction {
  id: string;
  status: PredictionStatus;
  /** Model-dependent: a URL string, a list of URL strings, or null until succeeded. */
  output: unknown;
  error: string | null;
  logs: string;
  /** True once Replicate has deleted inputs and outputs (an hour after completion). */
  dataRemoved: boolean;
  getUrl: string | undefined;
  cancelUrl: string | undefined;
}

export function isTerminal(status: PredictionStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled' || status === 'aborted';
}

export function parsePrediction(body: Buffer): Prediction {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(replicateProviderName, 'the prediction is not valid JSON');
  }
  if (!isRecord(parsed)) throw invalidUpstreamResponse(replicateProviderName, 'the prediction is not a JSON object');
  const id = parsed['id'];
  const status = parsed['status'];
  if (typeof id !== 'string' || id === '') throw invalidUpstreamResponse(replicateProviderName, 'the prediction has no id');
  if (typeof status !== 'string' || !predictionStatuses.includes(status as PredictionStatus)) {
    throw invalidUpstreamResponse(replicateProviderName, `unknown prediction status ${JSON.stringify(status)}`);
  }
  const error = parsed['error'];
  const urls = isRecord(parsed['urls']) ? parsed['urls'] : {};
  return {
    id,
    status: status as PredictionStatus,
    output: parsed['output'] ?? null,
    // `error` is documented as a string; anything else is still worth showing, so stringify it.
    error: error === null || error === undefined ? null : typeof error === 'string' ? error : JSON.stringify(error),
    logs: typeof parsed['logs'] === 'string' ? parsed['logs'] : '',
    dataRemoved: parsed['data_removed'] === true,
    getUrl: typeof urls['get'] === 'string' ? urls['get'] : undefined,
    cancelUrl: typeof urls['cancel'] === 'string' ? urls['cancel'] : undefined,
  };
}

/** The output as a list of strings: FLUX schnell/dev give an array, 1.1-pro and kontext a single string. */
export function outputStrings(output: unknown): string[] | undefined {
  if (typeof output === 'string') return [output];
  if (Array.isArray(output) && output.every((item): item is string => typeof item === 'string')) return output;
  return undefined;
}

/**
 * Progress from the tqdm bars models print to their logs (`" 50%|█████     | 2/4 [...]"`): the
 * last bar wins. Undefined when the logs hold none.
 */
export function progressFromLogs(logs: string): number | undefined {
  let percent: number | undefined;
  for (const match of logs.matchAll(/^\s*(\d{1,3})%\|/gm)) percent = Number(match[1]);
  return percent === undefined ? undefined : Math.min(100, percent);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
