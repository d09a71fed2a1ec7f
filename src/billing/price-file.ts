// Reads the bundled price list (catalog/prices.yaml): data, versioned with the code and the catalog.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { PriceFile } from './price-book.js';

export const bundledPricesPath = new URL('../../catalog/prices.yaml', import.meta.url);

export function readPriceFile(path: URL | string = bundledPricesPath): PriceFile {
  // The anchors in the file (`&gpt_image_output_tokens`) are shared tables, not copies to be merged.
  const data = parseYaml(readFileSync(path, 'utf8'), { maxAliasCount: 1000 }) as Partial<PriceFile> | null;
  if (!data || typeof data.version !== 'number' || !data.models || typeof data.models !== 'object') {
    throw new Error(`${String(path)}: a price list needs 'version' and 'models'`);
  }
  return { version: data.version, models: data.models, groups: data.groups ?? {}, image_output_tokens: data.image_output_tokens ?? {} };
}
