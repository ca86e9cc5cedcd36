import sharp from 'sharp';

export type Brightness = 'dark' | 'dim' | 'bright' | 'very bright';

export interface FrameDescription {
  width: number;
  height: number;
  brightness: Brightness;
  /** Plain colour names, the most common first, e.g. ['red'] or ['blue', 'white']. */
  mainColours: string[];
  /** e.g. "I see a 640 by 480 picture, mostly red, fairly bright." */
  sentence: string;
}

/** Colours with at least this share of the pixels count as main colours. */
const MAIN_COLOUR_SHARE = 0.15;
/** One colour covering this share makes the picture "mostly" that colour. */
const MOSTLY_SHARE = 0.6;
const THUMBNAIL_SIDE = 64;

const BRIGHTNESS_WORDS: Record<Brightness, string> = {
  dark: 'quite dark',
  dim: 'rather dim',
  bright: 'fairly bright',
  'very bright': 'very bright',
};

/**
 * What the offline engine can honestly say about a frame: its size, how bright it is and which
 * plain colours dominate. Pixels of a 64 px thumbnail are named one by one (hue, saturation,
 * value) and counted; naming colours is hand-written because colour-naming libraries map to
 * hundreds of exotic names ("dark slate grey", "papaya whip") rather than the dozen people say.
 */
export async function describeFrame(jpeg: Buffer): Promise<FrameDescription> {
  const image = sharp(jpeg);
  const { width = 0, height = 0 } = await image.metadata();
  const { data, info } = await image
    .rotate() // honour EXIF orientation, as a viewer would
    .resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });

  const counts = new Map<string, number>();
  let lightnessSum = 0;
  const pixels = info.width * info.height;
  for (let i = 0; i < data.length; i += info.channels) {
    const r = data[i]! / 255;
    const g = data[i + 1]! / 255;
    const b = data[i + 2]! / 255;
    const name = colourName(r, g, b);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    lightnessSum += (Math.max(r, g, b) + Math.min(r, g, b)) / 2;
  }

  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const main = ranked.filter(([, count]) => count / pixels >= MAIN_COLOUR_SHARE).slice(0, 3);
  const mainColours = (main.length > 0 ? main : ranked.slice(0, 1)).map(([name]) => name);
  const topShare = (ranked[0]?.[1] ?? 0) / pixels;
  const brightness = brightnessOf(lightnessSum / pixels);

  const colourPhrase =
    topShare >= MOSTLY_SHARE && mainColours.length === 1
      ? `mostly ${mainColours[0]}`
      : topShare >= MOSTLY_SHARE
        ? `mostly ${mainColours[0]} with some ${listWords(mainColours.slice(1))}`
        : main.length > 1
          ? `a mix of ${listWords(mainColours)}`
          : `many colours, ${mainColours[0]} the most`;
  const sentence = `I see a ${width} by ${height} picture, ${colourPhrase}, ${BRIGHTNESS_WORDS[brightness]}.`;
  return { width, height, brightness, mainColours, sentence };
}

/** The plain name of one sRGB colour (components 0–1). */
export function colourName(r: number, g: number, b: number): string {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const chroma = max - min;
  const saturation = max === 0 ? 0 : chroma / max;
  if (max < 0.16) return 'black';
  if (chroma < 0.08 || saturation < 0.16) {
    if (max < 0.3) return 'black';
    return max > 0.82 ? 'white' : 'grey';
  }
  const hue = hueDegrees(r, g, b, max, chroma);
  const lightness = (max + min) / 2;
  if (hue < 15 || hue >= 345) {
    if (lightness > 0.72) return 'pink';
    if (max < 0.45 && saturation < 0.6) return 'brown';
    return 'red';
  }
  if (hue < 42) {
    if (max < 0.6 || saturation < 0.4) return 'brown';
    return 'orange';
  }
  if (hue < 70) return max < 0.5 ? 'brown' : 'yellow';
  if (hue < 165) return 'green';
  if (hue < 195) return 'cyan';
  if (hue < 255) return 'blue';
  if (hue < 290) return 'purple';
  return lightness < 0.35 ? 'purple' : 'pink';
}

function hueDegrees(r: number, g: number, b: number, max: number, chroma: number): number {
  let hue: number;
  if (max === r) hue = ((g - b) / chroma) % 6;
  else if (max === g) hue = (b - r) / chroma + 2;
  else hue = (r - g) / chroma + 4;
  return (hue * 60 + 360) % 360;
}

function brightnessOf(meanLightness: number): Brightness {
  if (meanLightness < 0.15) return 'dark';
  if (meanLightness < 0.35) return 'dim';
  if (meanLightness < 0.75) return 'bright';
  return 'very bright';
}

function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}
