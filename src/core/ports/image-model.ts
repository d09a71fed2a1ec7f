// The provider port: what every upstream adapter and local engine implements. Versioned so a
// future change of shape can live beside this one; modelled on the Vercel AI SDK's ImageModel.

/**
 * `svg` only for vector models (Recraft's `*_vector`): their SVG is relayed as it came, and rasterised
 * when a raster format is asked for instead. No raster image is ever turned into an SVG.
 */
export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'svg';
export type Background = 'transparent' | 'opaque' | 'auto';

export interface PixelSize {
  width: number;
  height: number;
}

/** An image handed to a provider (edit inputs, masks, variation sources): bytes already sniffed. */
export interface InputImage {
  data: Buffer;
  mediaType: 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif';
  width: number;
  height: number;
  filename?: string;
}

/** Something the provider could not honour exactly and mapped instead; reported to the client. */
export interface ProviderWarning {
  /** `unsupported` = ignored; `mapped` = replaced by a close value; `other` = anything else worth saying. */
  type: 'unsupported' | 'mapped' | 'other';
  param?: string;
  message: string;
}

export interface ImageCallOptions {
  /** The upstream model name (after model_map). */
  model: string;
  prompt: string;
  /** Images wanted from this one call; the core never asks for more than maxImagesPerCall. */
  n: number;
  /** Resolved pixel size the gateway wants back. */
  size: PixelSize;
  /** The requested aspect ratio as `W:H`, resolved from `aspect_ratio` or from `size`. */
  aspectRatio: string;
  quality?: string;
  style?: string;
  background?: Background;
  outputFormat: OutputFormat;
  outputCompression?: number;
  moderation?: string;
  seed?: number;
  user?: string;
  /** Request fields the gateway does not model itself: passed through to the provider, never dropped. */
  providerOptions: Record<string, unknown>;
  /** Edit inputs (first image is the one a mask applies to). Empty for generations. */
  images: InputImage[];
  mask?: InputImage;
  /** Aborted when the client goes away or the gateway gives up: the provider must stop (and cancel upstream). */
  abortSignal: AbortSignal;
  /**
   * Called by asynchronous providers as soon as the upstream has accepted a job, with an opaque
   * reference that `resume` understands. The task worker records it so a restart polls the same
   * job instead of submitting (and paying for) a second one.
   */
  onUpstreamJob?: (job: UpstreamJobRef) => void | Promise<void>;
  /** Progress 0-100 reported by providers that know it. */
  onProgress?: (percent: number) => void;
  /**
   * Progressive previews wanted before each final image (OpenAI's `partial_images`, 0-3); 0 or
   * absent: none. Set only when someone listens (a stream), since upstreams bill each preview.
   */
  partialImages?: number;
  /**
   * Called with each preview as it is ready, by providers that render progressively (the others
   * ignore it and deliver only finals). `index` is the image's place within this call (0..n-1),
   * `partialImageIndex` counts that image's previews from 0; `data` is already in `outputFormat`.
   */
  onPartialImage?: (image: PartialImage) => void;
}

/** One progressive preview of an image still being generated. */
export interface PartialImage {
  index: number;
  partialImageIndex: number;
  data: Buffer;
}

export interface UpstreamJobRef {
  provider: string;
  /** The channel whose account accepted the job, and which of its keys (added by the image use case), so a resume goes back to it. */
  channel?: string;
  channelKey?: number;
  /** Whatever the provider needs to find the job again (ids, polling URLs). JSON-serialisable. */
  data: Record<string, unknown>;
}

/**
 * One result: bytes, or a URL the core downloads through the guarded client and re-hosts.
 * Bytes that arrived as base64 text may carry it as `base64` (ASCII bytes, e.g. slices of the
 * upstream's body in the chunks it arrived in), with `data` then decoded only when first read: an
 * image relayed as `b64_json` in the format it arrived in is never decoded, encoded again or joined.
 */
export type ProviderImage =
  | { kind: 'bytes'; data: Buffer; base64?: readonly Buffer[]; mediaType?: string; revisedPrompt?: string }
  | { kind: 'url'; url: string; revisedPrompt?: string };

export interface ImageUsage {
  inputTokens: number;
  outputTokens: number;
  inputTextTokens?: number;
  inputImageTokens?: number;
}

export interface ImageCallResult {
  images: ProviderImage[];
  warnings: ProviderWarning[];
  usage?: ImageUsage;
  /** The quality the upstream says it rendered (gpt-image answers echo it; `auto` becomes a tier). */
  quality?: string;
  /** Upstream identifiers worth logging (request id, job id). */
  upstreamRequestId?: string;
  /**
   * What the upstream says this call cost the operator, in USD (OpenRouter's `usage.cost`), kept
   * beside our charge in the usage row; never what the key is charged.
   */
  upstreamCostUsd?: number;
}

export type ImageOperation = 'generate' | 'edit' | 'variation';

export interface ImageModel {
  readonly specificationVersion: 'v1';
  /** The provider kind, e.g. `offline`, `openai`, `bfl`. */
  readonly provider: string;
  /** The upstream model id this instance calls. */
  readonly modelId: string;
  /** The most images one upstream call can return; the core splits `n` into ceil(n / max) calls. */
  readonly maxImagesPerCall: number;
  /**
   * Set by a model whose one call can answer an image set the upstream sizes itself (Seedream's
   * `sequential_image_generation: "auto"`): the most images such a set holds. A request with
   * `imageSet` is then one call with `n` = the set's maximum; a model without it refuses such a request.
   */
  readonly maxImagesPerSet?: number;
  /** Operations this model supports; the core answers 400 for the others before calling. */
  readonly operations: readonly ImageOperation[];
  generate(options: ImageCallOptions): Promise<ImageCallResult>;
  edit?(options: ImageCallOptions): Promise<ImageCallResult>;
  variation?(options: ImageCallOptions): Promise<ImageCallResult>;
  /** Continues an upstream job recorded through onUpstreamJob (after a restart) without resubmitting. */
  resume?(job: UpstreamJobRef, options: ImageCallOptions): Promise<ImageCallResult>;
  /** Best-effort cancel of a recorded upstream job. */
  cancel?(job: UpstreamJobRef): Promise<void>;
}

/** Builds an ImageModel for one upstream model name; implemented once per provider. */
export type ImageModelFactory = (upstreamModel: string) => ImageModel;
