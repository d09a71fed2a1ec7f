// The comfyui provider: a self-hosted ComfyUI, driven by the operator's workflow templates.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createComfyImageModel } from './image-model.js';

export { comfyDefaultBaseURL, comfySizeSpec } from './image-model.js';
export { builtinWorkflows, fillWorkflow, loadWorkflow, placeholdersIn } from './workflow.js';

/**
 * `settings.baseURL` defaults to http://127.0.0.1:8188; `api_key`, when set, is sent as a bearer token
 * (for the reverse proxy that usually guards a ComfyUI). The upstream model name selects a workflow
 * pair from `options.workflows` (`{<model> | '*': {generate, edit, checkpoint}}`, each a file path or
 * `builtin:sdxl-txt2img` / `builtin:sdxl-img2img`, the default for every model) and fills
 * `{{checkpoint}}` unless the entry names one. `options.max_images_per_call` (default 4) is the batch
 * size when the templates take `{{batch_size}}`.
 */
export function createComfyProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createComfyImageModel(settings, upstreamModel);
}
