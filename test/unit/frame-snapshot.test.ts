import { execFileSync } from 'node:child_process';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { snapshotJpeg, warmSnapshotPipeline } from '../../server/media/frame-snapshot.js';
import type { EncodedFrame } from '../../server/media/video-frames.js';

/** Red for the first second, blue after: the keyframe is red, the newest frame blue. */
const RED_THEN_BLUE = (size: string) =>
  `color=c=red:s=${size}:r=25:d=1[a];color=c=blue:s=${size}:r=25:d=1[b];[a][b]concat=n=2[out0]`;

function encodeVp8(lavfi: string, frameCount: number): EncodedFrame[] {
  const ivf = execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', 'lavfi', '-i', lavfi, '-frames:v', String(frameCount),
     '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1500k', '-g', '1000', '-f', 'ivf', '-'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const frames: EncodedFrame[] = [];
  for (let offset = ivf.readUInt16LE(6); offset + 12 <= ivf.length; ) {
    const size = ivf.readUInt32LE(offset);
    const data = ivf.subarray(offset + 12, offset + 12 + size);
    // RFC 6386 §9.1: bit 0 of the frame tag is 0 for keyframes.
    frames.push({ data, isKeyframe: (data[0] & 1) === 0, rtpTimestamp: frames.length * 3600 });
    offset += 12 + size;
  }
  return frames;
}

function encodeH264(lavfi: string, frameCount: number): EncodedFrame[] {
  const annexB = execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', 'lavfi', '-i', lavfi, '-frames:v', String(frameCount), '-c:v', 'libx264', '-preset', 'ultrafast',
     '-profile:v', 'baseline', '-bf', '0', '-g', '1000', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', '-'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  // Split at 4-byte start codes before SPS (7) or a slice when no parameter sets precede it.
  const frames: EncodedFrame[] = [];
  let unitStart = 0;
  let sawSlice = false;
  for (let i = 0; i + 4 < annexB.length; i++) {
    if (annexB[i] !== 0 || annexB[i + 1] !== 0 || annexB[i + 2] !== 1) continue;
    const type = annexB[i + 3] & 0x1f;
    const codeStart = i > 0 && annexB[i - 1] === 0 ? i - 1 : i;
    if (sawSlice && (type === 7 || type === 1 || type === 5 || type === 6)) {
      const data = annexB.subarray(unitStart, codeStart);
      frames.push({ data, isKeyframe: frames.length === 0, rtpTimestamp: frames.length * 3600 });
      unitStart = codeStart;
      sawSlice = false;
    }
    if (type === 1 || type === 5) sawSlice = true;
    i += 2;
  }
  frames.push({ data: annexB.subarray(unitStart), isKeyframe: false, rtpTimestamp: frames.length * 3600 });
  return frames;
}

async function meanColour(jpeg: Buffer): Promise<{ r: number; g: number; b: number }> {
  const { channels } = await sharp(jpeg).stats();
  return { r: channels[0].mean, g: channels[1].mean, b: channels[2].mean };
}

const options = { maxSide: 1024, quality: 80 };

describe('snapshotJpeg', () => {
  it('decodes the newest VP8 frame, not the keyframe', async () => {
    const frames = encodeVp8(RED_THEN_BLUE('640x480'), 40);
    expect(frames.filter((frame) => frame.isKeyframe)).toHaveLength(1);

    const newest = await snapshotJpeg(frames, 'VP8', options);
    expect([newest.width, newest.height]).toEqual([640, 480]);
    const metadata = await sharp(newest.jpeg).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['jpeg', 640, 480]);
    const blue = await meanColour(newest.jpeg);
    expect(blue.b).toBeGreaterThan(200);
    expect(Math.max(blue.r, blue.g)).toBeLessThan(60);

    const red = await meanColour((await snapshotJpeg(frames.slice(0, 20), 'VP8', options)).jpeg);
    expect(red.r).toBeGreaterThan(200);
    expect(Math.max(red.g, red.b)).toBeLessThan(60);
  });

  it('decodes the newest H.264 frame and scales it to maxSide', async () => {
    const frames = encodeH264(RED_THEN_BLUE('1280x720'), 30);
    expect(frames).toHaveLength(30);
    const still = await snapshotJpeg(frames, 'H264', { maxSide: 640, quality: 70 });
    expect([still.width, still.height]).toEqual([640, 360]);
    const { r, g, b } = await meanColour(still.jpeg);
    expect(b).toBeGreaterThan(200);
    expect(Math.max(r, g)).toBeLessThan(60);
  });

  it('scales 1920x1080 to a longest side of 1024 and never enlarges', async () => {
    const frames = encodeVp8('color=c=green:s=1920x1080:r=25', 3);
    const scaled = await snapshotJpeg(frames, 'VP8', options);
    expect([scaled.width, scaled.height]).toEqual([1024, 576]);
    const full = await snapshotJpeg(frames, 'VP8', { maxSide: 4096, quality: 80 });
    expect([full.width, full.height]).toEqual([1920, 1080]);
    expect(full.jpeg.length).toBeGreaterThan(scaled.jpeg.length);
    const quality = await snapshotJpeg(frames, 'VP8', { maxSide: 4096, quality: 20 });
    expect(quality.jpeg.length).toBeLessThan(full.jpeg.length);
  });

  it('follows a change of picture size (camera to screen share)', async () => {
    const camera = encodeVp8('color=c=red:s=640x480:r=25', 10);
    const screen = encodeVp8('color=c=blue:s=1280x720:r=25', 10);
    const still = await snapshotJpeg([...camera, ...screen], 'VP8', options);
    expect([still.width, still.height]).toEqual([1024, 576]);
    expect((await meanColour(still.jpeg)).b).toBeGreaterThan(200);
  });

  it('refuses clearly when there is no keyframe, and stops when aborted', async () => {
    const frames = encodeVp8('color=c=red:s=320x240:r=25', 5);
    await expect(snapshotJpeg([], 'VP8', options)).rejects.toThrow(/keyframe/);
    await expect(snapshotJpeg(frames.slice(1), 'VP8', options)).rejects.toThrow(/keyframe/);
    const controller = new AbortController();
    const pending = snapshotJpeg(frames, 'VP8', { ...options, signal: controller.signal });
    controller.abort(new Error('turn cancelled'));
    await expect(pending).rejects.toThrow(/cancelled|abort/i);
  });

  it('refuses a picture larger than maxPixels, and bounds what the decoder may write', async () => {
    const frames = encodeVp8('color=c=red:s=640x480:r=25', 10);
    await expect(snapshotJpeg(frames, 'VP8', { ...options, maxPixels: 320 * 240 })).rejects.toThrow();
    await expect(snapshotJpeg(frames, 'VP8', { ...options, maxOutputBytes: 100_000 })).rejects.toThrow(/more than 100000 bytes/);
    expect((await snapshotJpeg(frames, 'VP8', { ...options, maxPixels: 640 * 480 })).width).toBe(640);
  });
});

describe('warmSnapshotPipeline', () => {
  it('runs the real decode and JPEG encode once on a frame ffmpeg makes for it', async () => {
    const snapshot = await warmSnapshotPipeline();
    expect(snapshot.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect([snapshot.width, snapshot.height]).toEqual([64, 48]);
  });
});
