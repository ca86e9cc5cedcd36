/**
 * How long a snapshot takes: a VP8 keyframe plus N delta frames → newest frame → JPEG.
 * Usage: npx tsx scripts/bench-snapshot.ts [deltaFrames=25] [runs=10]
 */
import { execFileSync } from 'node:child_process';
import { ffmpegPath } from '../server/media/ffmpeg.js';
import { snapshotJpeg } from '../server/media/frame-snapshot.js';
import type { EncodedFrame } from '../server/media/video-frames.js';
import { readIvfFrames } from './lib/vp8-packetizer.js';

const deltaFrames = Number(process.argv[2] ?? 25);
const runs = Number(process.argv[3] ?? 10);
for (const size of ['640x480', '1280x720']) {
  const ivf = execFileSync(ffmpegPath(), ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=s=${size}:r=25`, '-frames:v', String(deltaFrames + 1),
    '-c:v', 'libvpx', '-g', '100000', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-f', 'ivf', 'pipe:1'], { maxBuffer: 1 << 28 });
  const frames: EncodedFrame[] = readIvfFrames(ivf).map((data, i) => ({ data, isKeyframe: i === 0, rtpTimestamp: i * 3600 }));
  const totals: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    await snapshotJpeg(frames, 'VP8', { maxSide: 1024, quality: 80 });
    totals.push(performance.now() - start);
  }
  totals.sort((a, b) => a - b);
  console.log(`${size}, keyframe + ${deltaFrames} deltas: median ${totals[Math.floor(runs / 2)]!.toFixed(1)} ms (min ${totals[0]!.toFixed(1)}, max ${totals.at(-1)!.toFixed(1)}) over ${runs} runs`);
}
