/** The pieces of the TTS transcode path: the streaming resampler, the WAV reader, the Opus frame encoder. */
import opus from '@discordjs/opus';
import { describe, expect, it } from 'vitest';
import { OpusFrameEncoder } from '../../server/media/opus-frame-encoder.js';
import { opusPacketDurationMs } from '../../server/media/opus-toc.js';
import { StreamResampler } from '../../server/media/resampler.js';
import { speechToOpus } from '../../server/media/speech-transcoder.js';
import { WavStreamReader } from '../../server/media/wav-stream-reader.js';

const sine = (rate: number, hz: number, samples: number, offset = 0) =>
  Float32Array.from({ length: samples }, (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * (i + offset)) / rate));

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Power of `hz` in `samples` (Goertzel), relative to a full-scale sine. */
function tonePower(samples: Float32Array, rate: number, hz: number): number {
  const k = (2 * Math.PI * hz) / rate;
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) [s1, s2] = [x + 2 * Math.cos(k) * s1 - s2, s1];
  return (s1 * s1 + s2 * s2 - 2 * Math.cos(k) * s1 * s2) / ((samples.length / 2) ** 2);
}

describe('StreamResampler', () => {
  it('is band-limited: a 9 kHz tone at 22 050 Hz leaves no image at 13 050 Hz (linear interpolation or repeating would)', async () => {
    const resampler = await StreamResampler.open(22_050, 48_000);
    const output = concat([resampler.process(sine(22_050, 9000, 22_050)), resampler.finish()]);
    resampler.release();
    const middle = output.subarray(4800, 43_200);
    const toneDb = 10 * Math.log10(tonePower(middle, 48_000, 9000));
    const imageDb = 10 * Math.log10(tonePower(middle, 48_000, 13_050) + 1e-20);
    console.log(`9 kHz tone ${toneDb.toFixed(1)} dB, image at 13.05 kHz ${imageDb.toFixed(1)} dB`);
    expect(toneDb, 'the tone itself passes (near the band edge, a little attenuated)').toBeGreaterThan(-12);
    expect(imageDb - toneDb).toBeLessThan(-50);
  });

  it.each([24_000, 22_050, 16_000])('%i Hz → 48 kHz in uneven chunks: exact length, the same sine, nothing dropped or repeated', async (rate) => {
    const input = sine(rate, 440, rate); // one second
    const resampler = await StreamResampler.open(rate, 48_000);
    const parts: Float32Array[] = [];
    for (let at = 0; at < input.length; at += 333) parts.push(resampler.process(input.subarray(at, at + 333)));
    parts.push(resampler.finish());
    resampler.release();
    const output = concat(parts);
    expect(output.length).toBe(48_000);
    const ideal = sine(48_000, 440, 48_000);
    let worst = 0;
    for (let i = 0; i < 48_000; i++) worst = Math.max(worst, Math.abs(output[i]! - ideal[i]!));
    // Dropping or repeating one sample would shift the phase by ~0.03 of full scale at 440 Hz.
    expect(worst).toBeLessThan(0.01);
  });
});

function wavHeader(options: { rate: number; channels: number; bits: number; format: number; dataBytes: number; list?: boolean }): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(options.format, 8);
  fmt.writeUInt16LE(options.channels, 10);
  fmt.writeUInt32LE(options.rate, 12);
  fmt.writeUInt32LE((options.rate * options.channels * options.bits) / 8, 16);
  fmt.writeUInt16LE((options.channels * options.bits) / 8, 20);
  fmt.writeUInt16LE(options.bits, 22);
  const list = options.list ? Buffer.concat([Buffer.from('LIST'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx'), Buffer.alloc(1)]) : Buffer.alloc(0);
  const data = Buffer.alloc(8);
  data.write('data', 0, 'latin1');
  data.writeUInt32LE(options.dataBytes, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(0xffffffff, 4);
  riff.write('WAVE', 8, 'latin1');
  return Buffer.concat([riff, fmt, list, data]);
}

describe('WavStreamReader', () => {
  it('reads a streamed 16-bit WAV with unknown sizes, split at every byte', () => {
    const samples = Int16Array.from({ length: 500 }, (_, i) => (i * 61) % 30_000 - 15_000);
    const wav = Buffer.concat([wavHeader({ rate: 24_000, channels: 1, bits: 16, format: 1, dataBytes: 0xffffffff, list: true }), Buffer.from(samples.buffer)]);
    const reader = new WavStreamReader();
    const out: Float32Array[] = [];
    for (let i = 0; i < wav.length; i++) out.push(reader.push(wav.subarray(i, i + 1)));
    reader.end();
    const read = concat(out);
    expect(reader.wavFormat).toEqual({ sampleRate: 24_000, channels: 1, encoding: 'int16' });
    expect(read.length).toBe(500);
    expect(Array.from(read, (v) => Math.round(v * 32768))).toEqual(Array.from(samples));
  });

  it('averages stereo float samples and stops at the data size when it is known', () => {
    const frames = Float32Array.from([0.5, -0.5, 0.25, 0.75, 1, 0]);
    const wav = Buffer.concat([wavHeader({ rate: 44_100, channels: 2, bits: 32, format: 3, dataBytes: frames.byteLength }), Buffer.from(frames.buffer), Buffer.from('LIST-trailer')]);
    const reader = new WavStreamReader();
    expect(Array.from(reader.push(wav))).toEqual([0, 0.5, 0.5]);
    expect(reader.wavFormat?.sampleRate).toBe(44_100);
  });

  it('refuses what is not a WAV', () => {
    expect(() => new WavStreamReader().push(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00'))).toThrow(/not a WAV/);
  });
});

describe('OpusFrameEncoder and speechToOpus', () => {
  it('turns 24 kHz PCM into 20 ms Opus packets that decode back to the same tone and length', async () => {
    const pcm24k = sine(24_000, 440, 24_000 * 2);
    const bytes = Buffer.alloc(pcm24k.length * 2);
    pcm24k.forEach((v, i) => bytes.writeInt16LE(Math.round(v * 32767), i * 2));
    // Delivered in odd-sized pieces, as a network would.
    const chunks = async function* () {
      for (let at = 0; at < bytes.length; at += 777) yield bytes.subarray(at, at + 777);
    };
    const packets: Buffer[] = [];
    for await (const packet of speechToOpus(chunks(), 'pcm')) packets.push(packet);
    expect(packets).toHaveLength(100); // 2 s
    expect(packets.every((p) => opusPacketDurationMs(p) === 20)).toBe(true);
    const decoder = new opus.OpusEncoder(48_000, 1);
    const decoded = Buffer.concat(packets.map((p) => decoder.decode(p)));
    const samples = new Int16Array(decoded.buffer, decoded.byteOffset, decoded.length / 2);
    let crossings = 0;
    for (let i = 24_000; i < 72_000; i++) if (samples[i - 1]! < 0 && samples[i]! >= 0) crossings++;
    expect(crossings).toBeGreaterThanOrEqual(439);
    expect(crossings).toBeLessThanOrEqual(441);
  });

  it('pads the last frame and leaves nothing behind', async () => {
    const encoder = await OpusFrameEncoder.open(48_000);
    expect(encoder.push(sine(48_000, 300, 1500))).toHaveLength(1);
    expect(encoder.finish()).toHaveLength(1);
  });
});
