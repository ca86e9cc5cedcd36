// Makes real Ogg-Opus files for the outgoing-media tests: speech from flite, encoded by ffmpeg's
// libopus muxer and by opusenc (libopusenc/libogg), plus ffprobe's view of each file as reference.
// Run alone to keep a set for inspection: `npx tsx scripts/make-test-ogg.ts [out-dir]`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const run = promisify(execFile);

export const TEST_SENTENCE =
  'Hello there. This is the assistant speaking through the outgoing audio path, ' +
  'with a sentence long enough to fill several pages of Ogg data.';

/** 16 kHz mono speech WAV from flite's slt voice. */
export async function makeFliteWav(outPath: string, text: string = TEST_SENTENCE): Promise<string> {
  await run('flite', ['-voice', 'slt', '-t', text, '-o', outPath]);
  return outPath;
}

/** Encodes with ffmpeg's libopus; `encoderArgs` e.g. ['-b:a', '256k', '-page_duration', '5000000']. */
export async function encodeWithFfmpeg(inputPath: string, outPath: string, encoderArgs: string[]): Promise<string> {
  await run('ffmpeg', [
    '-nostdin', '-loglevel', 'error', '-y', '-i', inputPath, '-c:a', 'libopus', ...encoderArgs, '-f', 'ogg', outPath,
  ]);
  return outPath;
}

/** Encodes with opusenc; `encoderArgs` e.g. ['--bitrate', '256']. */
export async function encodeWithOpusenc(inputPath: string, outPath: string, encoderArgs: string[]): Promise<string> {
  await run('opusenc', ['--quiet', ...encoderArgs, inputPath, outPath]);
  return outPath;
}

export interface ProbedPacket {
  size: number;
  /** ffprobe's duration in 48 kHz samples (the last packet's may be cut by end trimming). */
  durationSamples: number;
  md5: string;
  /** Samples the decoder drops from this packet (the OpusHead pre-skip, on the first packet). */
  skipSamples: number;
}

/** ffprobe's packets of the first audio stream, with an MD5 of each packet's bytes. */
export async function probePackets(path: string): Promise<ProbedPacket[]> {
  const { stdout: json } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'a:0', '-show_packets', '-show_data_hash', 'MD5',
      '-show_entries', 'packet=size,duration,data_hash:packet_side_data', '-of', 'json', path],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  interface FfprobePacket {
    size: string;
    duration: number | string;
    data_hash: string;
    side_data_list?: Array<{ skip_samples?: number }>;
  }
  const parsed = JSON.parse(json) as { packets: FfprobePacket[] };
  return parsed.packets.map((packet) => ({
    size: Number(packet.size),
    durationSamples: Number(packet.duration),
    md5: packet.data_hash.replace(/^MD5:/, ''),
    skipSamples: packet.side_data_list?.find((side) => side.skip_samples !== undefined)?.skip_samples ?? 0,
  }));
}

/** ffprobe's container duration in seconds. */
export async function probeDurationSeconds(path: string): Promise<number> {
  const { stdout: out } = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=noprint_wrappers=1:nokey=1', path],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}

/** The set of files the tests use, written into `dir`. */
export async function makeTestOggSet(dir: string): Promise<TestOggSet> {
  mkdirSync(dir, { recursive: true });
  const wav = await makeFliteWav(join(dir, 'speech.wav'));
  const longPages = ['-page_duration', '5000000']; // 5 s pages overflow 255 lacing values: packets span pages
  const files = {
    // VBR 256 kb/s: most packets 255+ bytes, several packets continued across pages.
    vbr256LongPages: encodeWithFfmpeg(wav, join(dir, 'vbr256-long-pages.ogg'), ['-b:a', '256k', ...longPages]),
    // Hard CBR 102 kb/s: every 20 ms packet is exactly 255 bytes (lacing 255, 0), one split between pages.
    cbr255LongPages: encodeWithFfmpeg(wav, join(dir, 'cbr255-long-pages.ogg'), ['-b:a', '102000', '-vbr', 'off', ...longPages]),
    // Different muxer (libogg via opusenc), default pages.
    opusenc256: encodeWithOpusenc(wav, join(dir, 'opusenc-256.opus'), ['--bitrate', '256']),
    // 60 ms packets (TOC code 3, three 20 ms CELT frames).
    frames60ms: encodeWithFfmpeg(wav, join(dir, 'frames-60ms.ogg'), ['-b:a', '64k', '-frame_duration', '60']),
    // Typical TTS-like stream: 20 ms packets at 32 kb/s.
    speech32k: encodeWithFfmpeg(wav, join(dir, 'speech-32k.ogg'), ['-b:a', '32k', '-application', 'voip']),
  };
  const names = Object.keys(files) as Array<keyof typeof files>;
  const paths = await Promise.all(names.map((name) => files[name]));
  return Object.fromEntries([['wav', wav], ...names.map((name, index) => [name, paths[index]!])]) as TestOggSet;
}

export interface TestOggSet {
  wav: string;
  vbr256LongPages: string;
  cbr255LongPages: string;
  opusenc256: string;
  frames60ms: string;
  speech32k: string;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = resolve(process.argv[2] ?? 'test/.media/ogg');
  for (const [name, path] of Object.entries(await makeTestOggSet(dir))) console.log(`${name}\t${path}`);
}
