import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPUS_SILENCE_FRAME, opusPacketDurationMs, opusPacketSamples48k } from '../../server/media/opus-toc.js';
import { OggOpusDemuxer } from '../../server/media/ogg-opus-demuxer.js';
import {
  encodeWithFfmpeg,
  encodeWithOpusenc,
  makeFliteWav,
  probePackets,
  type ProbedPacket,
} from '../../scripts/make-test-ogg.js';

interface EncodedVariant {
  name: string;
  packets: Buffer[];
  probed: ProbedPacket[];
}

// Real encoder output covering SILK, Hybrid and CELT configs and all four TOC frame-count codes.
const variants: Array<{ name: string; make: (wav: string, out: string) => Promise<string> }> = [
  ...['2.5', '5', '10', '20', '40', '60'].map((ms) => ({
    name: `celt-${ms}ms`,
    make: async (wav: string, out: string) => encodeWithFfmpeg(wav, out, ['-b:a', '64k', '-frame_duration', ms]),
  })),
  ...['40', '60'].map((ms) => ({
    name: `silk-${ms}ms`,
    make: async (wav: string, out: string) =>
      encodeWithFfmpeg(wav, out, ['-b:a', '12k', '-application', 'voip', '-frame_duration', ms]),
  })),
  ...['40', '60'].map((ms) => ({
    name: `celt-cbr-padded-${ms}ms`,
    make: async (wav: string, out: string) =>
      encodeWithFfmpeg(wav, out, ['-b:a', '128k', '-vbr', 'off', '-frame_duration', ms]),
  })),
  { name: 'silk-wb-20ms', make: (wav, out) => encodeWithFfmpeg(wav, out, ['-b:a', '24k', '-application', 'voip']) },
  { name: 'opusenc-hybrid-40ms', make: (wav, out) => encodeWithOpusenc(wav, out, ['--framesize', '40', '--bitrate', '16']) },
  { name: 'opusenc-hybrid-60ms', make: (wav, out) => encodeWithOpusenc(wav, out, ['--framesize', '60']) },
];

let workDir: string;
let encoded: EncodedVariant[] = [];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'opus-toc-'));
  const wav = await makeFliteWav(join(workDir, 'speech.wav'), 'Testing the table of contents byte.');
  encoded = await Promise.all(
    variants.map(async (variant) => {
      const path = await variant.make(wav, join(workDir, `${variant.name}.ogg`));
      const demuxer = new OggOpusDemuxer();
      const packets = demuxer.push(readFileSync(path));
      demuxer.end();
      return { name: variant.name, packets, probed: await probePackets(path) };
    }),
  );
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('opusPacketSamples48k on real encoder output', () => {
  it('matches ffprobe packet durations for every packet of every variant', () => {
    for (const { name, packets, probed } of encoded) {
      expect(packets.length, name).toBe(probed.length);
      packets.forEach((packet, index) => {
        const samples = opusPacketSamples48k(packet);
        const reference = probed[index]!.durationSamples;
        // ffprobe shortens the last packet by the end trim from the final granule position.
        if (index === packets.length - 1) expect(samples, `${name} last`).toBeGreaterThanOrEqual(reference);
        else expect(samples, `${name} packet ${index}`).toBe(reference);
      });
    }
  });

  it('exercised frame-count codes 0, 1, 2 and 3 and SILK, Hybrid and CELT configs', () => {
    const codes = new Set<number>();
    const modes = new Set<string>();
    for (const { packets } of encoded) {
      for (const packet of packets) {
        codes.add(packet[0]! & 3);
        const config = packet[0]! >> 3;
        modes.add(config < 12 ? 'silk' : config < 16 ? 'hybrid' : 'celt');
      }
    }
    expect([...codes].sort()).toEqual([0, 1, 2, 3]);
    expect([...modes].sort()).toEqual(['celt', 'hybrid', 'silk']);
  });

  it('reports the encoder frame duration in milliseconds', () => {
    for (const { name, packets } of encoded.filter((variant) => /^(celt|silk)-[\d.]+ms$/.test(variant.name))) {
      const frameMs = Number(/-([\d.]+)ms$/.exec(name)![1]);
      const typical = packets.slice(1, -1).map(opusPacketDurationMs);
      expect(new Set(typical), name).toEqual(new Set([frameMs]));
    }
  });
});

describe('OPUS_SILENCE_FRAME', () => {
  it('is f8 ff fe, lasts 20 ms and decodes to 960 samples of digital silence', () => {
    expect([...OPUS_SILENCE_FRAME]).toEqual([0xf8, 0xff, 0xfe]);
    expect(opusPacketSamples48k(OPUS_SILENCE_FRAME)).toBe(960);
    expect(opusPacketDurationMs(OPUS_SILENCE_FRAME)).toBe(20);
    const require = createRequire(import.meta.url);
    const { OpusEncoder } = require('@discordjs/opus') as {
      OpusEncoder: new (rate: number, channels: number) => { decode(packet: Buffer): Buffer };
    };
    const pcm = new OpusEncoder(48_000, 1).decode(OPUS_SILENCE_FRAME);
    expect(pcm.length).toBe(960 * 2);
    expect(pcm.every((byte) => byte === 0)).toBe(true);
  });
});

describe('malformed packets', () => {
  const celt20 = (): Buffer => {
    const packet = encoded.find((variant) => variant.name === 'celt-20ms')!.packets[5]!;
    return Buffer.from(packet);
  };
  const withToc = (packet: Buffer, code: number, extra: number[] = [], payloadBytes?: number): Buffer => {
    const toc = (packet[0]! & 0xfc) | code;
    return Buffer.from([toc, ...extra, ...packet.subarray(1, payloadBytes === undefined ? undefined : 1 + payloadBytes)]);
  };

  it('throws a clear error on an empty packet', () => {
    expect(() => opusPacketSamples48k(new Uint8Array(0))).toThrow(/empty/);
  });

  it('checks code 1 (equal frames) for an even payload', () => {
    expect(opusPacketSamples48k(withToc(celt20(), 1, [], 100))).toBe(1920);
    expect(() => opusPacketSamples48k(withToc(celt20(), 1, [], 101))).toThrow(/code 1/);
  });

  it('checks code 2 first-frame length against the packet', () => {
    expect(opusPacketSamples48k(withToc(celt20(), 2, [50], 120))).toBe(1920);
    expect(() => opusPacketSamples48k(withToc(celt20(), 2, [200], 120))).toThrow(/code 2/);
    expect(() => opusPacketSamples48k(Buffer.from([celt20()[0]! | 2]))).toThrow(/length byte missing/);
  });

  it('checks code 3 frame count, 120 ms limit, padding and frame split', () => {
    expect(opusPacketSamples48k(withToc(celt20(), 3, [0x06], 120))).toBe(6 * 960); // 6 × 20 ms CBR = 120 ms
    expect(() => opusPacketSamples48k(withToc(celt20(), 3, [0x00], 120))).toThrow(/zero frames/);
    expect(() => opusPacketSamples48k(withToc(celt20(), 3, [0x07], 140))).toThrow(/120 ms/);
    expect(() => opusPacketSamples48k(withToc(celt20(), 3, [0x02], 121))).toThrow(/equal frames/);
    expect(() => opusPacketSamples48k(withToc(celt20(), 3, [0x42, 254], 100))).toThrow(/padding/);
    expect(() => opusPacketSamples48k(withToc(celt20(), 3, [0x83, 252, 200], 100))).toThrow(/VBR/);
    expect(() => opusPacketSamples48k(Buffer.from([celt20()[0]! | 3]))).toThrow(/count byte missing/);
  });
});
