import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OggOpusDemuxer, demuxOggOpus } from '../../server/media/ogg-opus-demuxer.js';
import { opusPacketSamples48k } from '../../server/media/opus-toc.js';
import {
  makeTestOggSet,
  probeDurationSeconds,
  probePackets,
  type ProbedPacket,
  type TestOggSet,
} from '../../scripts/make-test-ogg.js';

/** What a whole-file walk over the page headers shows (an independent, non-streaming reading). */
interface PageLayout {
  /** Byte offset where each page ends. */
  pageEnds: number[];
  continuedPages: number;
  /** Continued pages whose first lacing value is 0: a 255·k-byte packet split exactly at the page end. */
  continuedWithZeroLacing: number;
  /** Audio packets (after OpusHead and OpusTags) completed by the end of each page. */
  packetsDoneByPage: number[];
}

function pageLayout(file: Buffer): PageLayout {
  const layout: PageLayout = { pageEnds: [], continuedPages: 0, continuedWithZeroLacing: 0, packetsDoneByPage: [] };
  let offset = 0;
  let packetsDone = 0;
  while (offset < file.length) {
    const segments = file[offset + 26]!;
    const lacing = file.subarray(offset + 27, offset + 27 + segments);
    if (file[offset + 5]! & 1) {
      layout.continuedPages++;
      if (lacing[0] === 0) layout.continuedWithZeroLacing++;
    }
    packetsDone += lacing.filter((value) => value < 255).length;
    offset += 27 + segments + lacing.reduce((sum, value) => sum + value, 0);
    layout.pageEnds.push(offset);
    layout.packetsDoneByPage.push(Math.max(0, packetsDone - 2));
  }
  return layout;
}

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

function demuxWhole(file: Buffer): Buffer[] {
  const demuxer = new OggOpusDemuxer();
  const packets = demuxer.push(file);
  demuxer.end();
  return packets;
}

function demuxInChunks(file: Buffer, chunkSizes: () => number): Buffer[] {
  const demuxer = new OggOpusDemuxer();
  const packets: Buffer[] = [];
  for (let offset = 0; offset < file.length; ) {
    const end = Math.min(file.length, offset + chunkSizes());
    packets.push(...demuxer.push(Buffer.from(file.subarray(offset, end))));
    offset = end;
  }
  demuxer.end();
  return packets;
}

/** Deterministic pseudo-random chunk sizes (mulberry32), so a failure can be replayed. */
function randomSizes(seed: number, max: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return 1 + (((t ^ (t >>> 14)) >>> 0) % max);
  };
}

let workDir: string;
let set: TestOggSet;
const files: Record<string, { bytes: Buffer; probed: ProbedPacket[]; durationSeconds: number }> = {};
const referenceFiles = ['vbr256LongPages', 'cbr255LongPages', 'opusenc256', 'frames60ms'] as const;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'ogg-demux-'));
  set = await makeTestOggSet(workDir);
  await Promise.all(
    referenceFiles.map(async (name) => {
      const path = set[name];
      files[name] = { bytes: readFileSync(path), probed: await probePackets(path), durationSeconds: await probeDurationSeconds(path) };
    }),
  );
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('OggOpusDemuxer on real encoder output', () => {
  it('the fixtures really contain 255+ byte packets, pages ending mid-packet, and a split 255-byte packet', () => {
    const vbr = pageLayout(files.vbr256LongPages!.bytes);
    expect(vbr.continuedPages).toBeGreaterThanOrEqual(1);
    expect(files.vbr256LongPages!.probed.filter((packet) => packet.size >= 255).length).toBeGreaterThan(100);
    expect(files.vbr256LongPages!.probed.some((packet) => packet.size >= 510)).toBe(true);

    const cbr = pageLayout(files.cbr255LongPages!.bytes);
    expect(cbr.continuedWithZeroLacing).toBeGreaterThanOrEqual(1);
    expect(files.cbr255LongPages!.probed.every((packet) => packet.size === 255)).toBe(true);
  });

  it.each(referenceFiles)('%s: packets are byte-identical to ffprobe’s', (name) => {
    const { bytes, probed } = files[name]!;
    const packets = demuxWhole(bytes);
    expect(packets.map((packet) => packet.length)).toEqual(probed.map((packet) => packet.size));
    expect(packets.map(md5)).toEqual(probed.map((packet) => packet.md5));
  });

  it.each(referenceFiles)('%s: TOC duration of the packets matches ffprobe’s duration', (name) => {
    const { bytes, probed, durationSeconds } = files[name]!;
    const demuxer = new OggOpusDemuxer();
    const packets = demuxer.push(bytes);
    demuxer.end();
    const packetSamples = packets.map(opusPacketSamples48k);
    const totalSamples = packetSamples.reduce((sum, samples) => sum + samples, 0);
    // The last granule position (ffprobe's duration, pre-skip included) trims at most part of the last packet.
    const trimmed = totalSamples - Math.round(durationSeconds * 48_000);
    expect(trimmed).toBeGreaterThanOrEqual(0);
    expect(trimmed).toBeLessThan(packetSamples.at(-1)!);
    expect(demuxer.head?.preSkip).toBe(probed[0]!.skipSamples);
    expect(demuxer.head?.channels).toBe(1);
  });

  it('reads the OpusHead input sample rate written by opusenc', () => {
    const demuxer = new OggOpusDemuxer();
    demuxer.push(files.opusenc256!.bytes);
    expect(demuxer.head?.inputSampleRate).toBe(16_000); // flite writes 16 kHz WAV
  });
});

describe('chunking', () => {
  it.each(['vbr256LongPages', 'cbr255LongPages'] as const)('%s: 1-byte chunks give the same packets', (name) => {
    const { bytes } = files[name]!;
    const reference = demuxWhole(bytes);
    const packets = demuxInChunks(bytes, () => 1);
    expect(packets.length).toBe(reference.length);
    packets.forEach((packet, index) => expect(packet.equals(reference[index]!)).toBe(true));
  });

  it('random chunk sizes (1 B … 9 kB, 40 seeds) give byte-identical packets', () => {
    for (const name of referenceFiles) {
      const { bytes, probed } = files[name]!;
      const expected = probed.map((packet) => packet.md5);
      for (let seed = 1; seed <= 10; seed++) {
        const packets = demuxInChunks(bytes, randomSizes(seed, seed % 2 ? 9000 : 300));
        expect(packets.map(md5), `${name} seed ${seed}`).toEqual(expected);
      }
    }
  });

  it('chunks cut exactly at page boundaries, and several pages per chunk, give the same packets', () => {
    const { bytes, probed } = files.vbr256LongPages!;
    const { pageEnds } = pageLayout(bytes);
    const demuxer = new OggOpusDemuxer();
    const packets: Buffer[] = [];
    let start = 0;
    for (const end of pageEnds) {
      packets.push(...demuxer.push(bytes.subarray(start, end)));
      start = end;
    }
    demuxer.end();
    expect(packets.map(md5)).toEqual(probed.map((packet) => packet.md5));
  });

  it('hands out a packet that lies inside one chunk without copying it', () => {
    const chunk = Buffer.from(files.opusenc256!.bytes);
    const packets = new OggOpusDemuxer().push(chunk);
    expect(packets[0]!.buffer).toBe(chunk.buffer);
  });

  it('accepts Uint8Array chunks (web streams)', () => {
    const { bytes, probed } = files.cbr255LongPages!;
    const demuxer = new OggOpusDemuxer();
    const packets = demuxer.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    expect(packets.length).toBe(probed.length);
  });
});

describe('demuxOggOpus streaming', () => {
  it('yields the packets of the pages that arrived before the stream ends', async () => {
    const { bytes, probed } = files.vbr256LongPages!;
    const layout = pageLayout(bytes);
    const firstPages = 4; // OpusHead, OpusTags and two audio pages, the second ending mid-packet
    expect(layout.packetsDoneByPage[firstPages - 1]).toBeGreaterThan(0);
    let releaseRest!: () => void;
    const restReleased = new Promise<void>((resolve) => (releaseRest = resolve));
    async function* source(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, layout.pageEnds[firstPages - 1]!);
      await restReleased;
      yield bytes.subarray(layout.pageEnds[firstPages - 1]!);
    }
    const received: Buffer[] = [];
    const consuming = (async () => {
      for await (const packet of demuxOggOpus(source())) received.push(packet);
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.length).toBe(layout.packetsDoneByPage[firstPages - 1]);
    releaseRest();
    await consuming;
    expect(received.map(md5)).toEqual(probed.map((packet) => packet.md5));
  });

  it('demuxes a live ffmpeg pipe while it is still encoding', async () => {
    const { spawn } = await import('node:child_process');
    const encoder = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-t', '1.5', '-i', set.wav, '-c:a', 'libopus',
      '-b:a', '32k', '-page_duration', '100000', '-f', 'ogg', 'pipe:1']);
    const started = performance.now();
    let firstPacketAfterMs = -1;
    let count = 0;
    for await (const packet of demuxOggOpus(encoder.stdout as Readable)) {
      if (count++ === 0) firstPacketAfterMs = performance.now() - started;
      expect(opusPacketSamples48k(packet)).toBe(960);
    }
    const totalMs = performance.now() - started;
    // -re encodes in real time (1.5 s): the first packets must come out long before the end.
    expect(firstPacketAfterMs).toBeGreaterThan(0);
    expect(firstPacketAfterMs).toBeLessThan(totalMs / 3);
    expect(count).toBeGreaterThanOrEqual(75);
  }, 15_000);
});

describe('malformed streams', () => {
  it('rejects a bad capture pattern and an unknown stream structure version', () => {
    const { bytes } = files.opusenc256!;
    const { pageEnds } = pageLayout(bytes);
    const badCapture = Buffer.from(bytes);
    badCapture.write('OggX', pageEnds[2]!);
    expect(() => demuxWhole(badCapture)).toThrow(/capture pattern/);
    const badVersion = Buffer.from(bytes);
    badVersion[pageEnds[1]! + 4] = 1;
    expect(() => demuxWhole(badVersion)).toThrow(/version 1/);
  });

  it('end() throws when the stream stops mid-page or with a packet continued past the last page', () => {
    const { bytes } = files.vbr256LongPages!;
    const layout = pageLayout(bytes);
    const midPage = new OggOpusDemuxer();
    midPage.push(bytes.subarray(0, layout.pageEnds[2]! + 100));
    expect(() => midPage.end()).toThrow(/middle of page/);

    const pageEndingMidPacket = layout.pageEnds.findIndex((_, index) => bytes[layout.pageEnds[index]! + 5]! & 1);
    expect(pageEndingMidPacket).toBeGreaterThan(0);
    const midPacket = new OggOpusDemuxer();
    midPacket.push(bytes.subarray(0, layout.pageEnds[pageEndingMidPacket]!));
    expect(() => midPacket.end()).toThrow(/middle of a packet/);
  });

  it('throws when a page drops a packet the previous page left open', () => {
    const bytes = Buffer.from(files.vbr256LongPages!.bytes);
    const layout = pageLayout(bytes);
    const continuedPageStart = layout.pageEnds.find((end) => end < bytes.length && bytes[end + 5]! & 1)!;
    bytes[continuedPageStart + 5] = bytes[continuedPageStart + 5]! & ~1;
    expect(() => demuxWhole(bytes)).toThrow(/does not continue/);
  });

  it('rejects an Ogg file that is not Opus (FLAC in Ogg)', () => {
    const flac = execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', set.wav, '-t', '0.5', '-c:a', 'flac',
      '-f', 'ogg', 'pipe:1'], { maxBuffer: 16 << 20 });
    expect(() => demuxWhole(flac)).toThrow(/not Opus/);
  });
});
