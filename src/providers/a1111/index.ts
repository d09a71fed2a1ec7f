// The a1111 provider: a self-hosted AUTOMATIC1111 stable-diffusion-webui or Forge, started with `--api`.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createA1111ImageModel } from './image-model.js';

export { a1111DefaultBaseURL, a1111SizeSpec, loadedCheckpoint, readA1111Options } from './image-model.js';

/**
 * `settings.baseURL` defaults to http://127.0.0.1:7860 (the webui's port; add a private host to
 * `network.allow_hosts`); `api_key`, when set, is the `--api-auth` pair `user:pass`, sent as HTTP Basic.
 * The upstream model name is the checkpoint to use (`sd_model_checkpoint`, e.g.
 * `sd_xl_base_1.0.safetensors`), or `default` for whatever the webui has loaded. Channel options:
 * `max_images_per_call` (the batch size, default 4) and `parameters` (fields sent with every job:
 * steps, sampler_name, override_settings, alwayson_scripts …).
 */
export function createA1111Provider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createA1111ImageModel(settings, upstreamModel);
}
