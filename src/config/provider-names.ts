// Every channel provider kind, in the order error messages list them. The one list that the config schema,
// the provider registry and the tests read, so adding a provider is one line here plus its registry entry.

export const providerNames = [
  'openai',
  'azure',
  'bfl',
  'replicate',
  'fal',
  'google',
  'stability',
  'a1111',
  'comfyui',
  'midjourney-proxy',
  'ideogram',
  'kling',
  'volcengine',
  'openrouter',
  'chat-completions',
  'recraft',
  'xai',
  'dashscope',
  'offline',
] as const;

export type ProviderName = (typeof providerNames)[number];
