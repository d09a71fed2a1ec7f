// Reads the bundled model catalog (catalog/models.yaml) — data, versioned with the code.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { CatalogFile } from '../core/catalog/types.js';
import { ConfigError } from './load.js';

export const bundledCatalogPath = new URL('../../catalog/models.yaml', import.meta.url);

export function readCatalogFile(path: URL | string = bundledCatalogPath): CatalogFile {
  const data = parseYaml(readFileSync(path, 'utf8')) as Partial<CatalogFile> | null;
  if (!data || typeof data.version !== 'number' || !Array.isArray(data.models)) {
    throw new ConfigError(`${String(path)}: a catalog needs 'version' and 'models'`);
  }
  return { version: data.version, models: data.models, aliases: data.aliases ?? {} };
}
