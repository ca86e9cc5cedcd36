import sharp from 'sharp';
import { ffmpegPath } from './ffmpeg.js';
import { runProcess } from './process-runner.js';
import type { EncodedFrame, VideoCodec } from './video-frames.js';

export interface SnapshotOptions {
  /** Longest side of the JPEG in pixels; smaller pictures are not enlarged. */
  maxSide: number;
  /** JPEG quality 1..100. */
  quality: number;
  /** Pictures larger than this are refused by the decoder (ffmpeg -max_pixels). */
  maxPixels?: number;
  /** Most decoded picture bytes ffmpeg may write; past it the snapshot fails. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

export interface Snapshot {
  jpeg: Buffer;
  width: number;
  height: number;
  decodeMs: number;
  encodeMs: number;
}

interface RgbPicture {
  rgb: Buffer;
  width: number;
  height: number;
}

/**
 * The newest frame as a JPEG. ffmpeg decodes the chain from the last keyframe (a delta frame
 * cannot be decoded alone) but converts and emits only the final picture; sharp scales and
 * encodes it.
 */
export async function snapshotJpeg(
  frames: readonly EncodedFrame[],
  codec: VideoCodec,
  options: SnapshotOptions,
): Promise<Snapshot> {
  let keyframeIndex = frames.length - 1;
  while (keyframeIndex >= 0 && !frames[keyframeIndex].isKeyframe) keyframeIndex--;
  if (keyframeIndex < 0) throw new Error('No video keyframe received yet: cannot take a snapshot');
  const chain = frames.slice(keyframeIndex);

  const decodeStart = performance.now();
  const input = codec === 'H264' ? Buffer.concat(chain.map((frame) => frame.data)) : toIvf(chain, codec);
  // Selecting by index skips the colour conversion and piping of every earlier picture. Should the
  // decoder output a different count (a damaged frame), fall back to keeping the last one emitted.
  // The fallback emits only the last few pictures, never every frame of the chain.
  const picture =
    (await decodeToPpm(input, codec, { from: chain.length - 1, count: 1 }, options)) ??
    (await decodeToPpm(input, codec, { from: Math.max(0, chain.length - 1 - FALLBACK_PICTURES), count: FALLBACK_PICTURES + 1 }, options));
  if (!picture) throw new Error(`ffmpeg decoded no picture from ${chain.length} ${codec} frames`);
  const decodeMs = performance.now() - decodeStart;

  const encodeStart = performance.now();
  const { data: jpeg, info } = await sharp(picture.rgb, {
    raw: { width: picture.width, height: picture.height, channels: 3 },
  })
    .resize({ width: options.maxSide, height: options.maxSide, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: options.quality })
    .toBuffer({ resolveWithObject: true });
  options.signal?.throwIfAborted();
  return { jpeg, width: info.width, height: info.height, decodeMs, encodeMs: performance.now() - encodeStart };
}

/**
 * VP8 or VP9 frames in an IVF container, the simplest one ffmpeg reads them from on a pipe.
 * Written by hand because werift has no IVF writer and the format is a 32-byte file header plus a
 * 12-byte header per frame. A VP8 frame size comes from the keyframe's own header (RFC 6386
 * §9.1); for VP9 the header's size is left 0, as ffmpeg reads it from the bitstream.
 */
export function toIvf(frames: readonly EncodedFrame[], codec: 'VP8' | 'VP9' = 'VP8'): Buffer {
  const { width, height } = codec === 'VP8' ? vp8KeyframeSize(frames[0].data) : { width: 0, height: 0 };
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'ascii');
  header.writeUInt16LE(0, 4); // version
  header.writeUInt16LE(32, 6); // header size
  header.write(codec === 'VP8' ? 'VP80' : 'VP90', 8, 'ascii');
  header.writeUInt16LE(width, 12);
  header.writeUInt16LE(height, 14);
  header.writeUInt32LE(30, 16); // time base: 1/30 s per frame index; only the order matters here
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const parts: Buffer[] = [header];
  frames.forEach((frame, index) => {
    const frameHeader = Buffer.alloc(12);
    frameHeader.writeUInt32LE(frame.data.length, 0);
    frameHeader.writeBigUInt64LE(BigInt(index), 4);
    parts.push(frameHeader, frame.data);
  });
  return Buffer.concat(parts);
}

function vp8KeyframeSize(keyframe: Buffer): { width: number; height: number } {
  const hasStartCode = keyframe.length >= 10 && keyframe[3] === 0x9d && keyframe[4] === 0x01 && keyframe[5] === 0x2a;
  if (!hasStartCode) return { width: 0, height: 0 }; // ffmpeg reads the size from the bitstream anyway
  return { width: keyframe.readUInt16LE(6) & 0x3fff, height: keyframe.readUInt16LE(8) & 0x3fff };
}

/** How many pictures before the newest the fallback decode may emit (a damaged frame shifts the count). */
const FALLBACK_PICTURES = 4;
const DEFAULT_MAX_PIXELS = 3840 * 2160;

/** Runs ffmpeg; resolves to the last picture of those selected by index, or undefined. */
function decodeToPpm(
  input: Buffer,
  codec: VideoCodec,
  select: { from: number; count: number },
  options: Pick<SnapshotOptions, 'maxPixels' | 'maxOutputBytes' | 'signal'>,
): Promise<RgbPicture | undefined> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  // No -threads 1: measured on 2 cores, frame threading decodes a 76-frame chain faster
  // (720p: 127 vs 214 ms). Most of the rest is ffmpeg's start-up (~90 ms for Debian's
  // dynamically linked build, ~3 ms for the static @ffmpeg-installer one).
  const args = [
    '-hide_banner', '-loglevel', 'error',
    // A remote peer chooses the picture size: refuse absurd ones before any is allocated.
    '-max_pixels', String(maxPixels),
    '-f', codec === 'H264' ? 'h264' : 'ivf',
    '-i', 'pipe:0',
    '-vf', `select=gte(n\\,${select.from})`, '-frames:v', String(select.count),
    '-an', '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1',
  ];
  const maxStdoutBytes = options.maxOutputBytes ?? select.count * (maxPixels * 3 + 64);
  return runProcess(ffmpegPath(), args, input, { ...(options.signal ? { signal: options.signal } : {}), maxStdoutBytes }).then(({ code, stdout, stderr }) => {
    if (code !== 0) throw new Error(`ffmpeg failed to decode ${codec} (exit ${code}): ${stderr.toString().trim()}`);
    return lastPpm(stdout);
  });
}

/** The last picture of a stream of binary PPM (P6, 8-bit) images. */
function lastPpm(stream: Buffer): RgbPicture | undefined {
  let offset = 0;
  let last: RgbPicture | undefined;
  while (offset < stream.length) {
    // Header: "P6" whitespace width whitespace height whitespace maxval, then one whitespace byte.
    const fields: number[] = [];
    let cursor = offset + 2;
    while (fields.length < 3) {
      while (/\s/.test(String.fromCharCode(stream[cursor]))) cursor++;
      const start = cursor;
      while (stream[cursor] >= 0x30 && stream[cursor] <= 0x39) cursor++;
      if (start === cursor) throw new Error('ffmpeg wrote a malformed PPM header');
      fields.push(Number(stream.toString('ascii', start, cursor)));
    }
    const [width, height] = fields;
    const dataStart = cursor + 1;
    const dataEnd = dataStart + width * height * 3;
    if (dataEnd > stream.length) break;
    last = { rgb: stream.subarray(dataStart, dataEnd), width, height };
    offset = dataEnd;
  }
  return last;
}

/**
 * Takes one snapshot of a tiny made-up VP8 keyframe, so a fresh server's first real snapshot
 * does not also pay for starting the process-runner thread and loading ffmpeg's decoder and
 * sharp's encoder: that first JPEG took 260–320 ms after release against ~60 ms for later ones,
 * and the chat request waits for it. Run once at start-up, in the background.
 */
export async function warmSnapshotPipeline(): Promise<Snapshot> {
  const { stdout } = await runProcess(
    ffmpegPath(),
    ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=black:s=64x48:r=25:d=0.04', '-c:v', 'libvpx', '-f', 'ivf', 'pipe:1'],
    Buffer.alloc(0),
  );
  const IVF_HEADER = 32;
  const FRAME_HEADER = 12; // 4-byte size, 8-byte timestamp
  if (stdout.length < IVF_HEADER + FRAME_HEADER) throw new Error('ffmpeg made no VP8 frame to warm the snapshot pipeline with');
  const size = stdout.readUInt32LE(IVF_HEADER);
  const keyframe = stdout.subarray(IVF_HEADER + FRAME_HEADER, IVF_HEADER + FRAME_HEADER + size);
  return snapshotJpeg([{ data: keyframe, isKeyframe: true, rtpTimestamp: 0 }], 'VP8', { maxSide: 64, quality: 80 });
}
