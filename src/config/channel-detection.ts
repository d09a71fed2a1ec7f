// Environment auto-detection of upstream channels: each provider's usual key variable (OPENAI_API_KEY,
// BFL_API_KEY …) becomes a channel that serves that provider's catalog models under their upstream names.

import type { ChannelConfig } from './schema.js';

type Env = Record<string, string | undefined>;

/** Catalog model id → the name the upstream knows it by. */
export type ModelMap = Readonly<Record<string, string>>;

/** OpenAI's own image models; the same names are deployments on Azure and model ids on compatible relays. */
const openAIModels: ModelMap = {
  'gpt-image-2': 'gpt-image-2',
  'gpt-image-2-2026-04-21': 'gpt-image-2-2026-04-21',
  // Shut down upstream: listed so a detected channel answers them from their catalog successor.
  'chatgpt-image-latest': 'chatgpt-image-latest',
  'gpt-image-1.5': 'gpt-image-1.5',
  'gpt-image-1': 'gpt-image-1',
  'gpt-image-1-mini': 'gpt-image-1-mini',
  'dall-e-3': 'dall-e-3',
  'dall-e-2': 'dall-e-2',
};

/**
 * What each provider serves, by catalog id. Every id here is in the bundled catalog (a test checks
 * it), and overrides can only add models, so the router always finds them.
 */
export const detectableModels = {
  openai: openAIModels,
  // Azure retired DALL·E 2; a deployment must exist for each model actually called.
  azure: Object.fromEntries(Object.entries(openAIModels).filter(([id]) => id !== 'dall-e-2')),
  bfl: {
    'flux-kontext-pro': 'flux-kontext-pro',
    'flux-kontext-max': 'flux-kontext-max',
    'flux-1.1-pro': 'flux-pro-1.1',
    'flux-1.1-pro-ultra': 'flux-pro-1.1-ultra',
    'flux-dev': 'flux-dev',
    'flux-2-pro': 'flux-2-pro',
    'flux-2-max': 'flux-2-max',
    'flux-2-flex': 'flux-2-flex',
    'flux-2-klein-9b': 'flux-2-klein-9b',
    'flux-2-klein-4b': 'flux-2-klein-4b',
    'flux-pro': 'flux-pro',
  },
  fal: {
    'flux-schnell': 'fal-ai/flux/schnell',
    'flux-dev': 'fal-ai/flux/dev',
    'flux-1.1-pro': 'fal-ai/flux-pro/v1.1',
    'flux-1.1-pro-ultra': 'fal-ai/flux-pro/v1.1-ultra',
    'flux-2-pro': 'fal-ai/flux-2-pro',
  },
  replicate: {
    'flux-schnell': 'black-forest-labs/flux-schnell',
    'flux-dev': 'black-forest-labs/flux-dev',
    'flux-1.1-pro': 'black-forest-labs/flux-1.1-pro',
    'flux-1.1-pro-ultra': 'black-forest-labs/flux-1.1-pro-ultra',
    'flux-kontext-pro': 'black-forest-labs/flux-kontext-pro',
    'flux-kontext-max': 'black-forest-labs/flux-kontext-max',
  },
  // The retired names (Gemini 2.5 Flash Image, the Gemini 3 Pro Image preview, Imagen) are listed so a
  // detected channel answers them from their catalog successor, gemini-3-pro-image.
  google: {
    'gemini-3-pro-image': 'gemini-3-pro-image',
    'gemini-2.5-flash-image': 'gemini-2.5-flash-image',
    'gemini-3-pro-image-preview': 'gemini-3-pro-image-preview',
    'imagen-4.0-generate-001': 'imagen-4.0-generate-001',
    'imagen-4.0-ultra-generate-001': 'imagen-4.0-ultra-generate-001',
    'imagen-4.0-fast-generate-001': 'imagen-4.0-fast-generate-001',
  },
  stability: {
    'stable-image-ultra': 'stable-image-ultra',
    'stable-image-core': 'stable-image-core',
    'sd3.5-large': 'sd3.5-large',
    'sd3.5-large-turbo': 'sd3.5-large-turbo',
    'sd3.5-medium': 'sd3.5-medium',
  },
  ideogram: {
    'ideogram-v3': 'ideogram-v3',
    'ideogram-v3-reframe': 'ideogram-v3-reframe',
    'ideogram-v3-replace-background': 'ideogram-v3-replace-background',
  },
  kling: {
    'kling-v3': 'kling-v3',
    'kling-v2-1': 'kling-v2-1',
    'kling-v2': 'kling-v2',
    'kling-v1-5': 'kling-v1-5',
    'kling-v1': 'kling-v1',
  },
  // Seedream on Volcengine Ark (ARK_API_KEY, the name every official Ark example reads); the retired
  // 3.0 is listed so a detected channel answers it from its catalog successor.
  volcengine: {
    'doubao-seedream-5-0-260128': 'doubao-seedream-5-0-260128',
    'doubao-seedream-4-5-251128': 'doubao-seedream-4-5-251128',
    'doubao-seedream-4-0-250828': 'doubao-seedream-4-0-250828',
    'doubao-seedream-3-0-t2i-250415': 'doubao-seedream-3-0-t2i-250415',
  },
  // OpenRouter's names for Gemini's image models (https://openrouter.ai/google/gemini-2.5-flash-image), served
  // through chat completions; ranked after Google's own API, so it is their failover when both keys are set.
  openrouter: {
    'gemini-2.5-flash-image': 'google/gemini-2.5-flash-image',
    'gemini-3-pro-image-preview': 'google/gemini-3-pro-image-preview',
  },
  recraft: {
    'recraftv4_1': 'recraftv4_1',
    'recraftv4_1_vector': 'recraftv4_1_vector',
    'recraftv3': 'recraftv3',
    'recraftv3_vector': 'recraftv3_vector',
  },
  xai: {
    'grok-imagine-image': 'grok-imagine-image',
  },
  // Alibaba Cloud Model Studio: the catalog ids are DashScope's own model names.
  dashscope: Object.fromEntries(
    [
      'qwen-image-2.0-pro',
      'qwen-image-2.0',
      'qwen-image-max',
      'qwen-image-plus',
      'qwen-image',
      'qwen-image-edit-max',
      'qwen-image-edit-plus',
      'qwen-image-edit',
      'wan2.6-t2i',
      'wan2.5-t2i-preview',
      'wan2.2-t2i-plus',
      'wan2.2-t2i-flash',
    ].map((id) => [id, id]),
  ) as ModelMap,
} as const satisfies Record<string, ModelMap>;

export type DetectableProvider = keyof typeof detectableModels;

const providerOrder = Object.keys(detectableModels) as DetectableProvider[];

/** Relays behind OPENAI_BASE_URL also serve the relay-only model names. */
const relayOnlyModels: ModelMap = { sora_image: 'sora_image' };

export interface ChannelDetection {
  /** The configured channels, then the detected ones (each without the models a configured channel lists). */
  channels: ChannelConfig[];
  /** Detected channel name → the environment variables it came from (names only, never values). */
  detected: Record<string, string>;
}

/** A candidate channel before the configured channels take their models. */
interface Candidate {
  provider: DetectableProvider;
  sources: string[];
  baseURL: string | undefined;
  apiKey: string;
  models: ModelMap;
  options?: Record<string, unknown>;
}

/**
 * Turns provider keys in the environment into channels. Configured channels win: a model any of
 * them lists is left out of every detected channel (matched by the name listed; a configured channel
 * that lists an alias still comes first, as detected channels rank below priority 0). `IMAGEGATE_DETECT_CHANNELS=false`
 * turns detection off. A half-given credential (an Azure key without its endpoint, a base URL that
 * is not http(s)) is reported through `fail`, so the start stops with the reason.
 */
export function detectChannels(env: Env, configured: readonly ChannelConfig[], fail: (message: string) => Error): ChannelDetection {
  const switchText = env['IMAGEGATE_DETECT_CHANNELS']?.trim().toLowerCase();
  if (switchText !== undefined && switchText !== '' && !['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'].includes(switchText)) {
    throw fail(`environment IMAGEGATE_DETECT_CHANNELS: expected true or false, got '${env['IMAGEGATE_DETECT_CHANNELS']}'`);
  }
  if (switchText !== undefined && ['0', 'false', 'no', 'off'].includes(switchText)) return { channels: [...configured], detected: {} };

  const claimed = new Set(configured.flatMap((channel) => channel.models));
  const takenNames = new Set(configured.map((channel) => channel.name));
  const channels: ChannelConfig[] = [...configured];
  const detected: Record<string, string> = {};

  for (const candidate of candidates(env, fail)) {
    const models = Object.keys(candidate.models).filter((model) => !claimed.has(model));
    if (models.length === 0) continue;
    const name = uniqueName(candidate.provider, takenNames);
    takenNames.add(name);
    const channel: ChannelConfig = {
      name,
      provider: candidate.provider,
      // Below every configured channel (priority 0 unless set), and one step apart in the order of
      // `detectableModels`, so each model has one detected provider first and the others as failover.
      priority: -1 - providerOrder.indexOf(candidate.provider),
      api_key: candidate.apiKey,
      models,
      model_map: Object.fromEntries(models.map((model) => [model, candidate.models[model] ?? model])),
    };
    if (candidate.baseURL !== undefined) channel.base_url = candidate.baseURL;
    if (candidate.options !== undefined) channel.options = candidate.options;
    channels.push(channel);
    detected[name] = candidate.sources.join(' + ');
  }
  return { channels, detected };
}

/** One candidate per provider whose key is set, in the order that decides who serves a model first. */
function candidates(env: Env, fail: (message: string) => Error): Candidate[] {
  const found: Candidate[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const baseURL = (names: readonly string[]): { value: string; source: string } | undefined => {
    for (const name of names) {
      const value = read(name);
      if (value === undefined) continue;
      if (!/^https?:\/\/[^/\s]+/i.test(value)) throw fail(`environment ${name}: expected an absolute http(s) URL, got '${value}'`);
      return { value: value.replace(/\/+$/, ''), source: name };
    }
    return undefined;
  };
  const add = (provider: DetectableProvider, key: { value: string; source: string }, baseNames: readonly string[], extra: Partial<Candidate> = {}): void => {
    const base = baseURL(baseNames);
    found.push({
      provider,
      sources: [key.source, ...(base === undefined ? [] : [base.source])],
      baseURL: base?.value,
      apiKey: key.value,
      models: detectableModels[provider],
      ...extra,
    });
  };
  const keyFrom = (names: readonly string[]): { value: string; source: string } | undefined => {
    for (const name of names) {
      const value = read(name);
      if (value !== undefined) return { value, source: name };
    }
    return undefined;
  };

  const openAIKey = keyFrom(['OPENAI_API_KEY']);
  if (openAIKey !== undefined) {
    const options: Record<string, unknown> = {};
    const organization = read('OPENAI_ORG_ID');
    const project = read('OPENAI_PROJECT_ID');
    if (organization !== undefined) options['organization'] = organization;
    if (project !== undefined) options['project'] = project;
    const relay = read('OPENAI_BASE_URL') !== undefined;
    add('openai', openAIKey, ['OPENAI_BASE_URL'], {
      models: relay ? { ...openAIModels, ...relayOnlyModels } : openAIModels,
      ...(Object.keys(options).length === 0 ? {} : { options }),
    });
  }

  const azureKey = keyFrom(['AZURE_OPENAI_API_KEY']);
  if (azureKey !== undefined) {
    const endpoint = baseURL(['AZURE_OPENAI_ENDPOINT']);
    if (endpoint === undefined) {
      throw fail('environment AZURE_OPENAI_API_KEY is set but AZURE_OPENAI_ENDPOINT is not: set it to the resource endpoint, e.g. https://my-resource.openai.azure.com');
    }
    const options: Record<string, unknown> = {};
    const apiVersion = read('AZURE_OPENAI_API_VERSION');
    if (apiVersion !== undefined) options['api_version'] = apiVersion;
    const deployments = azureDeployments(read('AZURE_OPENAI_DEPLOYMENTS'), fail);
    if (deployments !== undefined && Object.keys(deployments.renamed).length > 0) options['deployments'] = deployments.renamed;
    found.push({
      provider: 'azure',
      sources: [azureKey.source, endpoint.source, ...(apiVersion === undefined ? [] : ['AZURE_OPENAI_API_VERSION']), ...(deployments === undefined ? [] : ['AZURE_OPENAI_DEPLOYMENTS'])],
      baseURL: endpoint.value,
      apiKey: azureKey.value,
      models: deployments?.models ?? detectableModels.azure,
      ...(Object.keys(options).length === 0 ? {} : { options }),
    });
  }

  const bflKey = keyFrom(['BFL_API_KEY']);
  if (bflKey !== undefined) add('bfl', bflKey, ['BFL_BASE_URL']);

  // fal's clients take FAL_KEY, or the older pair FAL_KEY_ID and FAL_KEY_SECRET.
  const falId = read('FAL_KEY_ID');
  const falSecret = read('FAL_KEY_SECRET');
  const falKey = keyFrom(['FAL_KEY']) ?? (falId !== undefined && falSecret !== undefined ? { value: `${falId}:${falSecret}`, source: 'FAL_KEY_ID + FAL_KEY_SECRET' } : undefined);
  if (falKey !== undefined) add('fal', falKey, ['FAL_BASE_URL']);

  const replicateKey = keyFrom(['REPLICATE_API_TOKEN']);
  if (replicateKey !== undefined) add('replicate', replicateKey, ['REPLICATE_BASE_URL']);

  // As in Google's SDK, GOOGLE_API_KEY wins when both are set.
  const googleKey = keyFrom(['GOOGLE_API_KEY', 'GEMINI_API_KEY']);
  if (googleKey !== undefined) add('google', googleKey, ['GOOGLE_GEMINI_BASE_URL', 'GEMINI_BASE_URL']);

  const stabilityKey = keyFrom(['STABILITY_API_KEY']);
  if (stabilityKey !== undefined) add('stability', stabilityKey, ['STABILITY_BASE_URL']);

  const ideogramKey = keyFrom(['IDEOGRAM_API_KEY']);
  if (ideogramKey !== undefined) add('ideogram', ideogramKey, ['IDEOGRAM_BASE_URL']);
  // OPENROUTER_BASE_URL is the variable OpenRouter's own SDK reads (@openrouter/sdk lib/config.js).
  const openRouterKey = keyFrom(['OPENROUTER_API_KEY']);
  if (openRouterKey !== undefined) add('openrouter', openRouterKey, ['OPENROUTER_BASE_URL']);

  // Kling signs each request with an access key and a secret key; clients read them as KLING_ACCESS_KEY
  // and KLING_SECRET_KEY (inference-sh/grid api/klingai) or KLINGAI_ACCESS_KEY and KLINGAI_SECRET_KEY
  // (@microfox/klingai). The channel carries the pair as `<access key>:<secret key>`.
  for (const prefix of ['KLING', 'KLINGAI']) {
    const accessKey = read(`${prefix}_ACCESS_KEY`);
    const secretKey = read(`${prefix}_SECRET_KEY`);
    if (accessKey === undefined && secretKey === undefined) continue;
    if (accessKey === undefined || secretKey === undefined) {
      throw fail(`environment ${prefix}_${accessKey === undefined ? 'SECRET' : 'ACCESS'}_KEY is set but ${prefix}_${accessKey === undefined ? 'ACCESS' : 'SECRET'}_KEY is not: Kling needs both keys`);
    }
    add('kling', { value: `${accessKey}:${secretKey}`, source: `${prefix}_ACCESS_KEY + ${prefix}_SECRET_KEY` }, ['KLING_BASE_URL']);
    break;
  }

  // `Ark(api_key=os.getenv('ARK_API_KEY'))` in Volcengine's examples; ARK_BASE_URL picks another region
  // (BytePlus ModelArk: https://ark.ap-southeast.bytepluses.com/api/v3), as the Ark tools people use read it.
  const arkKey = keyFrom(['ARK_API_KEY']);
  if (arkKey !== undefined) add('volcengine', arkKey, ['ARK_BASE_URL']);

  // DASHSCOPE_HTTP_BASE_URL is the official Python SDK's (dashscope/common/env.py); a key only works
  // in its own region, so a Singapore or Virginia key needs it (https://dashscope-intl.aliyuncs.com/api/v1).
  const dashScopeKey = keyFrom(['DASHSCOPE_API_KEY']);
  if (dashScopeKey !== undefined) add('dashscope', dashScopeKey, ['DASHSCOPE_HTTP_BASE_URL', 'DASHSCOPE_BASE_URL']);

  // Recraft's documents call the token RECRAFT_API_TOKEN (https://www.recraft.ai/docs/api-reference/getting-started);
  // LiteLLM and others read RECRAFT_API_KEY. The first wins when both are set.
  const recraftKey = keyFrom(['RECRAFT_API_TOKEN', 'RECRAFT_API_KEY']);
  if (recraftKey !== undefined) add('recraft', recraftKey, ['RECRAFT_BASE_URL']);

  // "Prefer `XAI_API_KEY` in Node" (xai-org/xai-sdk-ts src/types.ts, ClientOptions.apiKey).
  const xaiKey = keyFrom(['XAI_API_KEY']);
  if (xaiKey !== undefined) add('xai', xaiKey, ['XAI_BASE_URL']);

  return found;
}

/**
 * `AZURE_OPENAI_DEPLOYMENTS=gpt-image-1,dall-e-3=my-dalle`: the models deployed on the resource,
 * each optionally with its deployment name when that is not the model name.
 */
function azureDeployments(text: string | undefined, fail: (message: string) => Error): { models: ModelMap; renamed: Record<string, string> } | undefined {
  if (text === undefined) return undefined;
  const models: Record<string, string> = {};
  const renamed: Record<string, string> = {};
  for (const entry of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const [model = '', deployment] = entry.split('=').map((part) => part.trim());
    const upstream = (detectableModels.azure as ModelMap)[model];
    if (upstream === undefined) {
      throw fail(`environment AZURE_OPENAI_DEPLOYMENTS: '${model}' is not a model azure serves; expected some of ${Object.keys(detectableModels.azure).join(', ')}`);
    }
    models[model] = upstream;
    if (deployment !== undefined && deployment !== '' && deployment !== upstream) renamed[upstream] = deployment;
  }
  if (Object.keys(models).length === 0) throw fail('environment AZURE_OPENAI_DEPLOYMENTS: expected model names, e.g. gpt-image-1,dall-e-3=my-dalle-deployment');
  return { models, renamed };
}

function uniqueName(provider: string, taken: ReadonlySet<string>): string {
  if (!taken.has(provider)) return provider;
  for (let index = 1; ; index += 1) {
    const name = index === 1 ? `${provider}-env` : `${provider}-env-${index}`;
    if (!taken.has(name)) return name;
  }
}
