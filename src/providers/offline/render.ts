// The offline engine's painter: turns a prompt and a seed into a deterministic landscape picture,
// composed as SVG and rasterised by sharp, so real images need no key, no network and no model.

import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { Background, OutputFormat } from '../../core/ports/image-model.js';
import { GatewayError } from '../../core/errors.js';

export interface SceneInput {
  prompt: string;
  seed: number;
  width: number;
  height: number;
  background: Background;
  format: OutputFormat;
  /** OpenAI's `output_compression`, 0-100: 100 is the least lossy (OpenAI's default), lower gives a smaller file. */
  compression?: number;
}

export interface EncodeOptions {
  format: OutputFormat;
  compression?: number;
  /** Keep the alpha channel; ignored for jpeg, which has none. */
  keepAlpha: boolean;
}

/** The largest side we rasterise; far above any catalog size, low enough that a typo cannot exhaust memory. */
export const maxSide = 8192;

/** What a background flattens onto when the output cannot carry alpha. */
const flattenColour = { r: 255, g: 255, b: 255 };

// ---------------------------------------------------------------------------------------------
// Randomness: sha256 of (seed, prompt) seeds sfc32, a small, fast PRNG with a 128-bit state, so the
// same input always draws the same numbers on every platform.

export type Random = () => number;

export function createRandom(prompt: string, seed: number, salt = ''): Random {
  const digest = createHash('sha256').update(`${salt}\u0000${seed}\u0000${prompt}`).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // The first outputs of sfc32 are poorly mixed; discarding a few is the customary warm-up.
  for (let index = 0; index < 12; index += 1) next();
  return next;
}

const between = (random: Random, low: number, high: number): number => low + (high - low) * random();

// ---------------------------------------------------------------------------------------------
// Palettes: a few colour words pick a hand-made palette; any other prompt gets hues from its hash.

interface Hsl {
  h: number;
  s: number;
  l: number;
}

interface Palette {
  name: string;
  skyTop: Hsl;
  skyMiddle: Hsl;
  skyBottom: Hsl;
  /** Sun or moon colour. */
  disc: Hsl;
  /** Far mountain colour; nearer layers darken towards `ground`. */
  far: Hsl;
  ground: Hsl;
  water: Hsl;
  accent: Hsl;
}

const hsl = (h: number, s: number, l: number): Hsl => ({ h, s, l });

const palettes = {
  sunset: { name: 'sunset', skyTop: hsl(265, 45, 28), skyMiddle: hsl(330, 65, 55), skyBottom: hsl(30, 95, 62), disc: hsl(45, 100, 70), far: hsl(320, 30, 40), ground: hsl(280, 35, 12), water: hsl(300, 40, 30), accent: hsl(15, 90, 55) },
  night: { name: 'moonlit', skyTop: hsl(230, 60, 6), skyMiddle: hsl(225, 55, 14), skyBottom: hsl(215, 45, 28), disc: hsl(50, 30, 90), far: hsl(220, 30, 22), ground: hsl(225, 40, 6), water: hsl(220, 50, 16), accent: hsl(200, 60, 70) },
  ocean: { name: 'ocean blue', skyTop: hsl(205, 75, 45), skyMiddle: hsl(195, 70, 65), skyBottom: hsl(185, 60, 85), disc: hsl(50, 100, 80), far: hsl(200, 25, 55), ground: hsl(40, 45, 55), water: hsl(195, 80, 35), accent: hsl(175, 70, 50) },
  forest: { name: 'forest green', skyTop: hsl(200, 55, 55), skyMiddle: hsl(170, 35, 72), skyBottom: hsl(80, 40, 82), disc: hsl(55, 90, 80), far: hsl(140, 25, 45), ground: hsl(130, 50, 14), water: hsl(170, 45, 30), accent: hsl(110, 55, 35) },
  snow: { name: 'wintry white', skyTop: hsl(210, 40, 62), skyMiddle: hsl(205, 35, 80), skyBottom: hsl(200, 30, 93), disc: hsl(45, 60, 92), far: hsl(210, 20, 70), ground: hsl(210, 25, 88), water: hsl(200, 40, 55), accent: hsl(200, 50, 65) },
  desert: { name: 'desert gold', skyTop: hsl(205, 70, 55), skyMiddle: hsl(40, 60, 78), skyBottom: hsl(35, 80, 85), disc: hsl(50, 100, 75), far: hsl(25, 50, 60), ground: hsl(30, 65, 38), water: hsl(190, 50, 40), accent: hsl(15, 70, 45) },
  red: { name: 'fiery red', skyTop: hsl(350, 70, 18), skyMiddle: hsl(5, 80, 42), skyBottom: hsl(25, 95, 60), disc: hsl(40, 100, 65), far: hsl(0, 45, 28), ground: hsl(350, 50, 8), water: hsl(5, 60, 25), accent: hsl(20, 100, 50) },
  blue: { name: 'cool blue', skyTop: hsl(225, 70, 35), skyMiddle: hsl(212, 70, 58), skyBottom: hsl(200, 70, 82), disc: hsl(55, 90, 85), far: hsl(220, 35, 50), ground: hsl(230, 45, 20), water: hsl(215, 70, 35), accent: hsl(190, 80, 60) },
  purple: { name: 'violet', skyTop: hsl(275, 60, 22), skyMiddle: hsl(295, 50, 48), skyBottom: hsl(320, 60, 78), disc: hsl(50, 80, 85), far: hsl(285, 30, 40), ground: hsl(270, 45, 12), water: hsl(280, 45, 30), accent: hsl(320, 80, 65) },
} as const satisfies Record<string, Palette>;

type PaletteKey = keyof typeof palettes;

/** Words that pick a palette; when several appear, the one earliest in `paletteOrder` wins. */
const paletteWords: Record<string, PaletteKey> = {
  sunset: 'sunset', sunrise: 'sunset', dusk: 'sunset', dawn: 'sunset', orange: 'sunset', evening: 'sunset',
  night: 'night', midnight: 'night', moon: 'night', moonlit: 'night', star: 'night', stars: 'night', starry: 'night', dark: 'night',
  ocean: 'ocean', sea: 'ocean', beach: 'ocean', wave: 'ocean', waves: 'ocean', coast: 'ocean', lake: 'ocean', water: 'ocean',
  forest: 'forest', tree: 'forest', trees: 'forest', jungle: 'forest', woods: 'forest', green: 'forest', pine: 'forest', pines: 'forest',
  snow: 'snow', snowy: 'snow', winter: 'snow', ice: 'snow', icy: 'snow', frozen: 'snow', arctic: 'snow', white: 'snow',
  desert: 'desert', sand: 'desert', dune: 'desert', dunes: 'desert', yellow: 'desert', gold: 'desert', golden: 'desert',
  red: 'red', fire: 'red', lava: 'red', volcano: 'red', crimson: 'red',
  blue: 'blue', sky: 'blue', azure: 'blue', cyan: 'blue',
  purple: 'purple', violet: 'purple', pink: 'purple', lavender: 'purple', magenta: 'purple',
};

/**
 * Light and mood outrank subject: "a lake at night" is a night scene with water, not a daylight lake
 * under stars, and "a forest at sunset" is a sunset with trees.
 */
const paletteOrder: readonly PaletteKey[] = ['night', 'sunset', 'red', 'purple', 'snow', 'desert', 'forest', 'ocean', 'blue'];

function pickPalette(words: readonly string[]): PaletteKey | undefined {
  const found = new Set(words.map((word) => paletteWords[word]));
  return paletteOrder.find((key) => found.has(key));
}

/** Features a word adds whatever palette was picked ("a lake at night" gets water and stars). */
const featureWords = {
  water: new Set(['ocean', 'sea', 'beach', 'wave', 'waves', 'coast', 'lake', 'water', 'river', 'boat']),
  stars: new Set(['night', 'midnight', 'star', 'stars', 'starry', 'moon', 'moonlit', 'galaxy']),
  moon: new Set(['night', 'midnight', 'moon', 'moonlit', 'starry']),
  snowcaps: new Set(['snow', 'snowy', 'winter', 'ice', 'icy', 'frozen', 'arctic', 'alps', 'glacier']),
  trees: new Set(['forest', 'tree', 'trees', 'jungle', 'woods', 'pine', 'pines']),
};

interface SceneDescription {
  palette: Palette;
  water: boolean;
  stars: boolean;
  moon: boolean;
  snowcaps: boolean;
  trees: boolean;
}

function promptWords(prompt: string): string[] {
  return prompt.toLowerCase().match(/[a-z]+/g) ?? [];
}

function hashedPalette(random: Random): Palette {
  const hue = Math.floor(random() * 360);
  const turn = (offset: number): number => (hue + offset + 360) % 360;
  return {
    name: 'hashed',
    skyTop: hsl(turn(0), 60, 30),
    skyMiddle: hsl(turn(25), 60, 55),
    skyBottom: hsl(turn(50), 70, 80),
    disc: hsl(turn(180), 80, 80),
    far: hsl(turn(200), 30, 45),
    ground: hsl(turn(220), 45, 15),
    water: hsl(turn(190), 55, 32),
    accent: hsl(turn(150), 75, 55),
  };
}

function describe(prompt: string, random: Random): SceneDescription {
  const words = promptWords(prompt);
  const key = pickPalette(words);
  const has = (set: Set<string>): boolean => words.some((word) => set.has(word));
  return {
    palette: key === undefined ? hashedPalette(random) : palettes[key],
    water: has(featureWords.water),
    stars: has(featureWords.stars),
    moon: has(featureWords.moon),
    snowcaps: has(featureWords.snowcaps),
    trees: has(featureWords.trees),
  };
}

/** A short, deterministic phrase for the palette a prompt picks, e.g. `moonlit` or `forest green`. */
export function describePalette(prompt: string): string {
  const key = pickPalette(promptWords(prompt));
  return key === undefined ? 'vivid' : palettes[key].name;
}

// ---------------------------------------------------------------------------------------------
// The scene itself.

const clampUnit = (value: number): number => Math.min(100, Math.max(0, value));

function colour(base: Hsl, shift: Partial<Hsl> = {}): string {
  const h = (((base.h + (shift.h ?? 0)) % 360) + 360) % 360;
  return `hsl(${h.toFixed(0)},${clampUnit(base.s + (shift.s ?? 0)).toFixed(0)}%,${clampUnit(base.l + (shift.l ?? 0)).toFixed(0)}%)`;
}

function mix(from: Hsl, to: Hsl, amount: number): Hsl {
  // Hue is mixed the short way round the wheel so blue→purple does not pass through green.
  let delta = to.h - from.h;
  if (delta > 180) delta -= 360;
  if (delta < -180) delta += 360;
  return { h: from.h + delta * amount, s: from.s + (to.s - from.s) * amount, l: from.l + (to.l - from.l) * amount };
}

const fixed = (value: number): string => value.toFixed(1);

/** A mountain ridge as points across the whole width: a few sines plus jitter. */
function ridge(random: Random, width: number, baseY: number, amplitude: number): Array<[number, number]> {
  const segments = 18 + Math.floor(random() * 14);
  const waves = Array.from({ length: 3 }, (_, index) => ({
    frequency: (index + 1) * between(random, 0.6, 1.6),
    phase: random() * Math.PI * 2,
    weight: 1 / (index + 1),
  }));
  const points: Array<[number, number]> = [];
  for (let index = 0; index <= segments; index += 1) {
    const t = index / segments;
    let offset = 0;
    for (const wave of waves) offset += Math.sin(t * Math.PI * 2 * wave.frequency + wave.phase) * wave.weight;
    offset += between(random, -0.35, 0.35);
    points.push([t * width, baseY - (offset / 1.8) * amplitude]);
  }
  return points;
}

function ridgePolygon(points: Array<[number, number]>, width: number, height: number, fill: string): string {
  const outline = points.map(([x, y]) => `${fixed(x)},${fixed(y)}`).join(' ');
  return `<polygon points="${outline} ${fixed(width)},${fixed(height)} 0,${fixed(height)}" fill="${fill}"/>`;
}

/** Builds the SVG document for a prompt; `transparent` leaves the sky unpainted so the alpha shows. */
export function composeSceneSvg(input: { prompt: string; seed: number; width: number; height: number; transparent: boolean }): string {
  const { width, height, transparent } = input;
  const random = createRandom(input.prompt, input.seed);
  const scene = describe(input.prompt, random);
  const palette = scene.palette;
  const unit = Math.min(width, height);
  const parts: string[] = [];

  parts.push(
    '<defs>',
    `<linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${colour(palette.skyTop)}"/>` +
      `<stop offset="${fixed(between(random, 0.45, 0.65))}" stop-color="${colour(palette.skyMiddle)}"/>` +
      `<stop offset="1" stop-color="${colour(palette.skyBottom)}"/></linearGradient>`,
    `<radialGradient id="glow"><stop offset="0" stop-color="${colour(palette.disc)}" stop-opacity="0.75"/>` +
      `<stop offset="1" stop-color="${colour(palette.disc)}" stop-opacity="0"/></radialGradient>`,
    `<linearGradient id="water" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${colour(palette.water, { l: 12 })}"/>` +
      `<stop offset="1" stop-color="${colour(palette.water, { l: -10 })}"/></linearGradient>`,
    '</defs>',
  );
  if (!transparent) parts.push(`<rect width="${width}" height="${height}" fill="url(#sky)"/>`);

  if (scene.stars) {
    const count = 40 + Math.floor(random() * 80);
    for (let index = 0; index < count; index += 1) {
      const radius = between(random, 0.6, 1.8) * Math.max(1, unit / 512);
      parts.push(`<circle cx="${fixed(random() * width)}" cy="${fixed(random() * height * 0.6)}" r="${fixed(radius)}" fill="#fff" fill-opacity="${between(random, 0.4, 1).toFixed(2)}"/>`);
    }
  }

  // The sun or moon, with a soft glow behind it.
  const discX = between(random, 0.15, 0.85) * width;
  const discY = between(random, 0.12, 0.4) * height;
  const discRadius = between(random, 0.05, 0.1) * unit;
  parts.push(`<circle cx="${fixed(discX)}" cy="${fixed(discY)}" r="${fixed(discRadius * 2.6)}" fill="url(#glow)"/>`);
  parts.push(`<circle cx="${fixed(discX)}" cy="${fixed(discY)}" r="${fixed(discRadius)}" fill="${colour(palette.disc)}"/>`);
  if (scene.moon) {
    for (let index = 0; index < 3; index += 1) {
      const angle = random() * Math.PI * 2;
      const distance = random() * discRadius * 0.55;
      parts.push(`<circle cx="${fixed(discX + Math.cos(angle) * distance)}" cy="${fixed(discY + Math.sin(angle) * distance)}" r="${fixed(discRadius * between(random, 0.1, 0.22))}" fill="${colour(palette.disc, { l: -18 })}"/>`);
    }
  }

  // Clouds: clusters of soft ellipses.
  const clouds = scene.stars ? Math.floor(random() * 2) : 2 + Math.floor(random() * 4);
  for (let cloud = 0; cloud < clouds; cloud += 1) {
    const centreX = random() * width;
    const centreY = between(random, 0.08, 0.42) * height;
    const opacity = between(random, 0.45, 0.8).toFixed(2);
    const puffs = 3 + Math.floor(random() * 4);
    for (let puff = 0; puff < puffs; puff += 1) {
      parts.push(
        `<ellipse cx="${fixed(centreX + between(random, -0.09, 0.09) * width)}" cy="${fixed(centreY + between(random, -0.015, 0.015) * height)}" ` +
          `rx="${fixed(between(random, 0.04, 0.09) * unit)}" ry="${fixed(between(random, 0.018, 0.035) * unit)}" fill="${colour(palette.skyBottom, { l: 15, s: -20 })}" fill-opacity="${opacity}"/>`,
      );
    }
  }

  // Birds: small V strokes in the sky.
  if (!scene.stars) {
    const birds = Math.floor(random() * 6);
    for (let bird = 0; bird < birds; bird += 1) {
      const x = between(random, 0.1, 0.9) * width;
      const y = between(random, 0.1, 0.35) * height;
      const span = between(random, 0.01, 0.022) * unit;
      parts.push(`<polyline points="${fixed(x - span)},${fixed(y - span * 0.5)} ${fixed(x)},${fixed(y)} ${fixed(x + span)},${fixed(y - span * 0.5)}" fill="none" stroke="${colour(palette.ground)}" stroke-width="${fixed(Math.max(1, unit / 400))}"/>`);
    }
  }

  // Mountain layers, far (pale, towards the sky) to near (dark, towards the ground).
  const layers = 3 + Math.floor(random() * 2);
  const waterLine = scene.water ? between(random, 0.62, 0.72) * height : height;
  const lastRidgeBase = scene.water ? waterLine : height * 0.82;
  for (let layer = 0; layer < layers; layer += 1) {
    const depth = layer / Math.max(1, layers - 1);
    const baseY = height * 0.45 + (lastRidgeBase - height * 0.45) * depth;
    const amplitude = height * (0.22 - depth * 0.12);
    const points = ridge(random, width, baseY, amplitude);
    const tone = mix(mix(palette.far, palette.skyBottom, 0.25), palette.ground, depth);
    parts.push(ridgePolygon(points, width, height, colour(tone)));
    if (scene.snowcaps && layer < 2) {
      for (let index = 1; index < points.length - 1; index += 1) {
        const [x, y] = points[index] ?? [0, 0];
        const before = points[index - 1]?.[1] ?? y;
        const after = points[index + 1]?.[1] ?? y;
        if (y < before && y < after) {
          const spread = (width / points.length) * 0.45;
          const drop = Math.min(before - y, after - y) * 0.55;
          parts.push(`<polygon points="${fixed(x)},${fixed(y)} ${fixed(x - spread * 0.6)},${fixed(y + drop)} ${fixed(x + spread * 0.6)},${fixed(y + drop)}" fill="#f4f8fb"/>`);
        }
      }
    }
  }

  if (scene.water) {
    parts.push(`<rect x="0" y="${fixed(waterLine)}" width="${width}" height="${fixed(height - waterLine)}" fill="url(#water)"/>`);
    const waves = 6 + Math.floor(random() * 6);
    for (let wave = 0; wave < waves; wave += 1) {
      const y = waterLine + ((wave + 0.5) / waves) * (height - waterLine);
      const points: string[] = [];
      const steps = 24;
      const amplitude = between(random, 0.004, 0.012) * height;
      const phase = random() * Math.PI * 2;
      for (let step = 0; step <= steps; step += 1) {
        const x = (step / steps) * width;
        points.push(`${fixed(x)},${fixed(y + Math.sin((step / steps) * Math.PI * 8 + phase) * amplitude)}`);
      }
      parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${colour(palette.water, { l: 25 })}" stroke-opacity="0.55" stroke-width="${fixed(Math.max(1, unit / 300))}"/>`);
    }
  } else {
    // A foreground strip with scattered pebbles or flowers in the accent colour.
    const foreground = ridge(random, width, height * 0.9, height * 0.04);
    parts.push(ridgePolygon(foreground, width, height, colour(palette.ground, { l: -4 })));
    const dots = 15 + Math.floor(random() * 25);
    for (let dot = 0; dot < dots; dot += 1) {
      parts.push(`<circle cx="${fixed(random() * width)}" cy="${fixed(between(random, 0.9, 1) * height)}" r="${fixed(between(random, 0.003, 0.009) * unit)}" fill="${colour(palette.accent, { h: between(random, -20, 20) })}"/>`);
    }
  }

  if (scene.trees) {
    const trees = 12 + Math.floor(random() * 20);
    const groundY = scene.water ? waterLine : height * 0.86;
    for (let tree = 0; tree < trees; tree += 1) {
      const x = random() * width;
      const treeHeight = between(random, 0.06, 0.14) * height;
      const base = groundY + between(random, -0.02, 0.04) * height;
      const half = treeHeight * 0.28;
      parts.push(`<polygon points="${fixed(x)},${fixed(base - treeHeight)} ${fixed(x - half)},${fixed(base)} ${fixed(x + half)},${fixed(base)}" fill="${colour(palette.accent, { l: between(random, -25, -5) })}"/>`);
    }
  }

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Rasterising and encoding.

export function assertPixelSize(width: number, height: number): void {
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > maxSide) {
      throw new GatewayError('invalid_value', `Invalid value for '${name}': ${value}. The offline engine renders whole-pixel sizes from 1 to ${maxSide}.`, { param: 'size' });
    }
  }
}

/**
 * OpenAI's `output_compression` is a quality: "The compression level (0-100%) for the generated images
 * … defaults to 100" (openai-node, src/resources/images.ts, ImageGenerateParams.output_compression),
 * and its image guide lowers it to shrink a JPEG. So it is the encoder's quality as is, as Replicate's
 * `output_quality` and Imagen's `compressionQuality` take it; 90 when not given.
 */
export function qualityFor(compression: number | undefined): number {
  if (compression === undefined) return 90;
  return Math.max(1, Math.min(100, Math.round(compression)));
}

/** PNG is lossless: the same scale read as effort, 100 (least lossy, OpenAI's default) → zlib 0; 6 when not given. */
export function pngLevelFor(compression: number | undefined): number {
  if (compression === undefined) return 6;
  return Math.max(0, Math.min(9, Math.round(((100 - compression) / 100) * 9)));
}

/** Encodes a pipeline in the requested format, keeping or flattening alpha. */
export function encodeImage(image: sharp.Sharp, options: EncodeOptions): Promise<Buffer> {
  const keepAlpha = options.keepAlpha && options.format !== 'jpeg';
  const pipeline = keepAlpha ? image.ensureAlpha() : image.flatten({ background: flattenColour });
  switch (options.format) {
    case 'png':
      return pipeline.png({ compressionLevel: pngLevelFor(options.compression) }).toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality: qualityFor(options.compression) }).toBuffer();
    case 'webp':
      return pipeline.webp({ quality: qualityFor(options.compression) }).toBuffer();
    case 'svg':
      // A raster picture wrapped in SVG would be a vector image in name only.
      throw new GatewayError('invalid_value', 'The offline engine draws SVG for generations only; ask for png, jpeg or webp.', { param: 'output_format' });
  }
}

function rasterise(svg: string): sharp.Sharp {
  // 72 dpi is librsvg's identity scale: the document's width × height in px become exactly that many pixels.
  return sharp(Buffer.from(svg), { density: 72 });
}

/** The scene as raw RGBA pixels (width × height × 4), for compositing in edits and variations. */
export async function renderSceneRaw(input: { prompt: string; seed: number; width: number; height: number; transparent: boolean }): Promise<Buffer> {
  assertPixelSize(input.width, input.height);
  const { data, info } = await rasterise(composeSceneSvg(input)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== input.width || info.height !== input.height || info.channels !== 4) {
    throw new GatewayError('server_error', `The offline engine rendered ${info.width}x${info.height}x${info.channels} instead of ${input.width}x${input.height}x4.`);
  }
  return data;
}

/** Renders the prompt's scene at exactly width × height in the requested format. */
export async function renderScene(input: SceneInput): Promise<Buffer> {
  assertPixelSize(input.width, input.height);
  const transparent = input.background === 'transparent';
  const svg = composeSceneSvg({ prompt: input.prompt, seed: input.seed, width: input.width, height: input.height, transparent });
  // The scene is drawn as SVG in the first place: a vector request gets the document itself.
  if (input.format === 'svg') return Buffer.from(svg);
  return encodeImage(rasterise(svg), { format: input.format, compression: input.compression, keepAlpha: transparent });
}
