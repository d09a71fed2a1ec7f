// The shape of a model catalog entry: every limit the gateway validates a request against.

import type { Background, OutputFormat } from '../ports/image-model.js';

export type ResponseFormat = 'url' | 'b64_json';
export type Operation = 'generate' | 'edit' | 'variation';

export interface SizeRule {
  multiple_of: number;
  min_edge?: number;
  max_edge?: number;
  min_pixels?: number;
  max_pixels?: number;
  /** Largest allowed long-edge / short-edge ratio. */
  max_ratio?: number;
}

export type SizeSpec =
  | { enum: string[]; default: string }
  | { rule: SizeRule; default: string }
  | { aspect_ratios: string[]; default_aspect_ratio: string; megapixels: number };

export interface EditLimits {
  max_images: number;
  max_image_bytes: number;
  formats: OutputFormat[];
  /** dall-e-2: the image must be square. */
  square?: boolean;
  /** dall-e-2: without a mask the image itself must carry transparency. */
  alpha_required_without_mask?: boolean;
  input_fidelity?: string[];
  /** Largest input image the model takes, in pixels (width × height); the gateway's own cap applies when lower or absent. */
  max_input_pixels?: number;
}

/**
 * A model some upstreams have shut down. On a channel of one of those providers, requests for it are
 * served by `successor` (the channel's upstream name for that catalog model), with every translated
 * parameter reported as a warning; without a successor they get a clear error, never the upstream's 404.
 * A channel whose upstream still serves the old name (another relay) says `serves_retired_models: true`.
 */
export interface Retirement {
  /** Provider kinds (channel `provider`) that no longer serve the model, e.g. [openai, azure]. */
  upstreams: string[];
  /** The date the upstream shut it down (YYYY-MM-DD), as it published it. */
  shutdown: string;
  /** The catalog model that serves its requests there. */
  successor?: string;
  /** Where the shutdown and the successor are published. */
  source: string;
}

export interface CatalogModel {
  id: string;
  owned_by: string;
  operations: Operation[];
  prompt_max_length: number;
  max_n: number;
  sizes: SizeSpec;
  qualities?: string[];
  default_quality?: string;
  /**
   * Quality names well-known clients send that this model lacks, mapped (with a warning) to one it has
   * or to `auto` — for relay aliases such as sora_image, whose clients send DALL·E's `standard`.
   */
  quality_aliases?: Record<string, string>;
  styles?: string[];
  default_style?: string;
  backgrounds: Background[];
  moderation?: string[];
  output_formats: OutputFormat[];
  default_output_format: OutputFormat;
  default_response_format: ResponseFormat;
  /** dall-e-3 returns revised_prompt. */
  revises_prompt?: boolean;
  /** gpt-image models echo background/output_format/quality/size and usage in the response. */
  reports_output_details?: boolean;
  /** Models that can stream partial images. */
  streaming?: boolean;
  edit?: EditLimits;
  /** Shut down by some upstreams (see Retirement). */
  retired?: Retirement;
  /** A published shutdown date still ahead (YYYY-MM-DD), shown in /v1/models as OpenAI's `shutdown_date`. */
  shutdown_date?: string;
}

export interface CatalogFile {
  version: number;
  models: CatalogModel[];
  aliases?: Record<string, string>;
}
