import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { describeFrame } from '../../server/assistant/offline/frame-description.js';

function solidJpeg(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  const [r, g, b] = rgb;
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).jpeg({ quality: 85 }).toBuffer();
}

/** A repeatable pseudo-random generator, so the noisy picture is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('describeFrame', () => {
  const pure: Array<[string, [number, number, number]]> = [
    ['red', [255, 0, 0]],
    ['green', [0, 255, 0]],
    ['blue', [0, 0, 255]],
    ['yellow', [255, 255, 0]],
    ['white', [255, 255, 255]],
    ['black', [0, 0, 0]],
  ];
  for (const [name, rgb] of pure) {
    it(`names a solid ${name} picture`, async () => {
      const description = await describeFrame(await solidJpeg(640, 480, rgb));
      expect(description.mainColours).toEqual([name]);
      expect(description.width).toBe(640);
      expect(description.height).toBe(480);
      expect(description.sentence).toBe(
        `I see a 640 by 480 picture, mostly ${name}, ${
          { white: 'very bright', black: 'quite dark' }[name] ?? 'fairly bright'
        }.`,
      );
    });
  }

  const cameraLike: Array<[string, [number, number, number]]> = [
    ['red', [178, 34, 40]], // a red shirt under room light
    ['orange', [235, 140, 40]],
    ['brown', [110, 70, 40]], // a wooden desk
    ['yellow', [225, 200, 70]],
    ['green', [80, 130, 50]], // a plant
    ['cyan', [40, 170, 180]],
    ['blue', [40, 70, 150]], // a blue mug
    ['blue', [135, 180, 230]], // sky
    ['purple', [110, 50, 150]],
    ['pink', [240, 150, 190]],
    ['grey', [128, 126, 122]], // a grey wall
    ['white', [235, 232, 225]], // slightly warm white paper
    ['black', [22, 24, 28]],
  ];
  for (const [name, rgb] of cameraLike) {
    it(`names a camera-like ${name} (${rgb.join(', ')})`, async () => {
      expect((await describeFrame(await solidJpeg(320, 240, rgb))).mainColours).toEqual([name]);
    });
  }

  it('rates brightness from dark to very bright', async () => {
    expect((await describeFrame(await solidJpeg(64, 64, [20, 20, 20]))).brightness).toBe('dark');
    expect((await describeFrame(await solidJpeg(64, 64, [70, 70, 70]))).brightness).toBe('dim');
    expect((await describeFrame(await solidJpeg(64, 64, [140, 140, 140]))).brightness).toBe('bright');
    expect((await describeFrame(await solidJpeg(64, 64, [230, 230, 230]))).brightness).toBe('very bright');
  });

  it('sees through noise: a mostly red picture with speckles of other colours', async () => {
    const width = 640;
    const height = 480;
    const random = seeded(42);
    const pixels = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const speckle = random() < 0.2;
      const jitter = () => Math.round((random() - 0.5) * 40);
      const rgb = speckle
        ? [random() * 255, random() * 255, random() * 255]
        : [200 + jitter(), 30 + jitter(), 35 + jitter()];
      pixels.set(rgb.map((v) => Math.max(0, Math.min(255, Math.round(v)))), i * 3);
    }
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg().toBuffer();
    const description = await describeFrame(jpeg);
    expect(description.mainColours[0]).toBe('red');
    expect(description.sentence).toMatch(/^I see a 640 by 480 picture, mostly red/);
  });

  it('names two halves of a picture as a mix', async () => {
    const left = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
    const jpeg = await sharp({ create: { width: 400, height: 200, channels: 3, background: { r: 255, g: 255, b: 0 } } })
      .composite([{ input: left, left: 0, top: 0 }])
      .jpeg()
      .toBuffer();
    const description = await describeFrame(jpeg);
    expect([...description.mainColours].sort()).toEqual(['blue', 'yellow']);
    expect(description.sentence).toMatch(/a mix of (blue and yellow|yellow and blue)/);
  });
});
