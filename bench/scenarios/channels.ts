// The channels every benchmarked gateway is configured with: one per fake-upstream route, each
// serving the catalog model its scenario asks for.

import type { BenchChannel } from '../processes.js';

export const benchChannels: BenchChannel[] = [
  // dall-e-3 answers with a URL here, as relays that ignore response_format do.
  { name: 'bench-small-url', path: '/small-url/v1', models: ['dall-e-3'] },
  // gpt-image-1 passes base64 through; dall-e-2 asks for a URL, so imagegate decodes, stores and signs.
  { name: 'bench-large-b64', path: '/large-b64/v1', models: ['gpt-image-1', 'dall-e-2'] },
  { name: 'bench-small-b64', path: '/small-b64/v1', models: ['gpt-image-1-mini'] },
  { name: 'bench-slow', path: '/slow/v1', models: ['gpt-image-1.5'] },
];
