import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import opus from '@discordjs/opus';
import { ffmpegPath } from '../../server/media/ffmpeg.js';
import { readIvfFrames } from './vp8-packetizer.js';

const run = promisify(execFile);

/** Samples of a 16-bit PCM WAV (first channel), with its sample rate. */
export function readWavPcm(wav: Buffer): { pcm: Int16Array; sampleRate: number } {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let offset = 12;
  let sampleRate = 0;
  let channels = 1;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('ascii', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    if (id === 'fmt ') {
      channels = wav.readUInt16LE(offset + 10);
      sampleRate = wav.readUInt32LE(offset + 12);
    } else if (id === 'data') {
      const data = wav.subarray(offset + 8, offset + 8 + size);
      const all = new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + (data.length & ~1)));
      const pcm = channels === 1 ? all : all.filter((_, i) => i % channels === 0);
      return { pcm, sampleRate };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

/** 20 ms Opus packets (48 kHz mono, as a browser mic sends) of a 48 kHz WAV file. */
export async function opusPacketsFromWav(wavPath: string, bitrate = 32000): Promise<Buffer[]> {
  const { pcm, sampleRate } = readWavPcm(await readFile(wavPath));
  if (sampleRate !== 48000) throw new Error(`expected a 48 kHz WAV, got ${sampleRate} Hz`);
  const encoder = new opus.OpusEncoder(48000, 1);
  encoder.setBitrate(bitrate);
  const packets: Buffer[] = [];
  for (let start = 0; start + 960 <= pcm.length; start += 960) {
    const frame = pcm.subarray(start, start + 960);
    packets.push(encoder.encode(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)));
  }
  return packets;
}

export interface Vp8ClipOptions {
  colour?: string;
  width?: number;
  height?: number;
  fps?: number;
  seconds?: number;
  /** Cap on a keyframe's size, in percent of the average frame (libvpx rc_max_intra_bitrate_pct). */
  maxIntraRatePercent?: number;
}

/** VP8 frames (first one a keyframe) of a moving test pattern tinted `colour`, made by libvpx. */
export async function vp8Frames(options: Vp8ClipOptions = {}): Promise<Buffer[]> {
  const { colour = 'red', width = 640, height = 480, fps = 25, seconds = 2, maxIntraRatePercent } = options;
  const intraCap = maxIntraRatePercent === undefined ? [] : ['-max-intra-rate', String(maxIntraRatePercent)];
  const source = `color=c=${colour}:s=${width}x${height}:r=${fps}:d=${seconds}`;
  const { stdout } = await run(
    ffmpegPath(),
    ['-v', 'error', '-f', 'lavfi', '-i', source, '-vf', 'noise=alls=8:allf=t', '-c:v', 'libvpx', '-b:v', '1M', '-g', '100000', ...intraCap,
      '-deadline', 'realtime', '-cpu-used', '8', '-f', 'ivf', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
  );
  return readIvfFrames(stdout);
}
