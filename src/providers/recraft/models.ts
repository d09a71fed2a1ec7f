// What each Recraft model takes, from Recraft's own documents:
// - OpenAPI: https://external.api.recraft.ai/doc/spec/internal/externalapi/api.yaml (copy in
//   tryAGI/Recraft src/libs/Recraft/openapi.yaml, 2026-08-21): request fields, ImageSubStyle,
//   ImageFormat (webp, png), ResponseFormat (url, b64_json), TransformModel (the model ids).
// - https://www.recraft.ai/docs/api-reference/models (overview): "names ending in _vector produce
//   vector (SVG) images; all other models produce raster images"; "Styles are not supported for V4
//   models" (https://www.recraft.ai/docs/api-reference/styles).
// - Substyles per model and style: recraft-ai/mcp-recraft-server src/utils/parameters.ts ("each
//   combination of model and style has their own list of available substyles … If you will provide a
//   substyle that is not available for the specified model and style, generation will fail").
// - Inpainting is priced for Recraft V3 only (https://www.recraft.ai/docs/api-reference/pricing:
//   "Raster image inpainting – Recraft V3", "Vector image inpainting – Recraft V3").

export interface RecraftModelProfile {
  /** Produces SVG (the `_vector` models). */
  vector: boolean;
  /** Styles the model accepts in `style`; empty: none (V4.x). */
  styles: readonly string[];
  /** Substyles by style. */
  substyles: Readonly<Record<string, readonly string[]>>;
  /** Takes a mask (`/v1/images/inpaint`). */
  inpaints: boolean;
  /** "style and negative_prompt work only with V3 models" (https://www.recraft.ai/docs/api-reference/tools/image-to-image). */
  negativePrompt: boolean;
}

const v3Substyles = {
  realistic_image: [
    'b_and_w', 'enterprise', 'evening_light', 'faded_nostalgia', 'forest_life', 'hard_flash', 'hdr', 'motion_blur', 'mystic_naturalism',
    'natural_light', 'natural_tones', 'organic_calm', 'real_life_glow', 'retro_realism', 'retro_snapshot', 'studio_portrait', 'urban_drama',
    'village_realism', 'warm_folk',
  ],
  digital_illustration: [
    '2d_art_poster', '2d_art_poster_2', 'antiquarian', 'bold_fantasy', 'child_book', 'cover', 'crosshatch', 'digital_engraving', 'engraving_color',
    'expressionism', 'freehand_details', 'grain', 'grain_20', 'graphic_intensity', 'hand_drawn', 'hand_drawn_outline', 'handmade_3d', 'hard_comics',
    'infantile_sketch', 'long_shadow', 'modern_folk', 'multicolor', 'neon_calm', 'noir', 'nostalgic_pastel', 'outline_details', 'pastel_gradient',
    'pastel_sketch', 'pixel_art', 'plastic', 'pop_art', 'pop_renaissance', 'seamless', 'street_art', 'tablet_sketch', 'urban_glow', 'urban_sketching',
    'young_adult_book', 'young_adult_book_2',
  ],
  vector_illustration: [
    'bold_stroke', 'chemistry', 'colored_stencil', 'cosmics', 'cutout', 'depressive', 'editorial', 'emotional_flat', 'engraving', 'line_art',
    'line_circuit', 'linocut', 'marker_outline', 'mosaic', 'naivector', 'roundish_flat', 'seamless', 'segmented_colors', 'sharp_contrast', 'thin',
    'vector_photo', 'vivid_shapes',
  ],
  logo_raster: ['emblem_graffiti', 'emblem_pop_art', 'emblem_punk', 'emblem_stamp', 'emblem_vintage'],
} as const;

const profiles: Record<string, RecraftModelProfile> = {
  // recraftv3 also answers `vector_illustration` with an SVG (mcp-recraft-server: "Vector is
  // generated"); the catalog sells that as recraftv3_vector, priced as vector.
  recraftv3: { vector: false, styles: ['any', 'realistic_image', 'digital_illustration', 'logo_raster'], substyles: v3Substyles, inpaints: true, negativePrompt: true },
  recraftv3_vector: { vector: true, styles: ['vector_illustration'], substyles: v3Substyles, inpaints: true, negativePrompt: true },
  recraftv4: { vector: false, styles: [], substyles: {}, inpaints: false, negativePrompt: false },
  recraftv4_vector: { vector: true, styles: [], substyles: {}, inpaints: false, negativePrompt: false },
  recraftv4_1: { vector: false, styles: [], substyles: {}, inpaints: false, negativePrompt: false },
  recraftv4_1_vector: { vector: true, styles: [], substyles: {}, inpaints: false, negativePrompt: false },
};

/** The profile of a model id; an unknown id (a newer model) is judged by its name alone. */
export function recraftProfile(model: string): RecraftModelProfile {
  return profiles[model] ?? { vector: model.endsWith('_vector'), styles: [], substyles: {}, inpaints: false, negativePrompt: false };
}

/**
 * Request fields a client may pass through to Recraft (GenerateImageRequestBase /
 * TransformImageRequestBase in the OpenAPI file) beyond the ones the gateway maps itself.
 */
export const passThroughFields = ['substyle', 'style_id', 'negative_prompt', 'controls', 'text_layout', 'block_nsfw'] as const;
