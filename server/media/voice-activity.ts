/**
 * Energy-based voice-activity detection and silence trimming over mono 16-bit PCM.
 *
 * Hand-written on purpose: the maintained VADs (WebRTC's GMM VAD, Silero) exist in JS only as
 * native addons or ONNX models that ship weights; a segment of a held-Space turn only needs
 * "where does the talking start and stop, and is there any", which frame energy against an
 * adaptive noise floor answers well enough, in a few dozen lines and well under 1 ms per second.
 */

export interface SpeechActivity {
  /** Total length of the speech regions, in ms. */
  speechMs: number;
  /** First sample of the first speech region; -1 when there is no speech. */
  firstSpeechSample: number;
  /** Last sample (inclusive) of the last speech region; -1 when there is no speech. */
  lastSpeechSample: number;
}

const FRAME_MS = 10;
/** Frames quieter than this are digital silence (DTX gaps, muted tracks) and say nothing about the noise floor. */
const DIGITAL_SILENCE_DB = -80;
/** Nothing quieter than this is speech, however quiet the room. */
const ABSOLUTE_SPEECH_FLOOR_DB = -55;
/** Speech has to stand this far above the background noise. */
const SPEECH_ABOVE_NOISE_DB = 10;
/** The noise floor is this percentile of the frame energies (speech has pauses; noise is steady). */
const NOISE_PERCENTILE = 0.1;
/** Loud frames closer than this are one region (syllables, stop closures). */
const BRIDGE_GAP_MS = 100;
/** Regions shorter than this are clicks, pops and key presses, not speech. */
const MIN_REGION_MS = 80;

/** Per-frame energy in dBFS. */
function frameEnergiesDb(pcm: Int16Array, frameSamples: number): Float64Array {
  const frameCount = Math.floor(pcm.length / frameSamples);
  const energies = new Float64Array(frameCount);
  for (let frame = 0; frame < frameCount; frame++) {
    let sumOfSquares = 0;
    const start = frame * frameSamples;
    for (let i = start; i < start + frameSamples; i++) sumOfSquares += pcm[i] * pcm[i];
    const meanSquare = sumOfSquares / frameSamples / (32768 * 32768);
    energies[frame] = 10 * Math.log10(meanSquare + 1e-12);
  }
  return energies;
}

function noiseFloorDb(energies: Float64Array): number {
  const audible = Array.from(energies).filter((db) => db > DIGITAL_SILENCE_DB);
  if (audible.length === 0) return DIGITAL_SILENCE_DB;
  audible.sort((a, b) => a - b);
  return audible[Math.floor(audible.length * NOISE_PERCENTILE)];
}

/** Speech regions as [firstFrame, endFrame) pairs. */
function speechRegions(energies: Float64Array): Array<[number, number]> {
  const thresholdDb = Math.max(noiseFloorDb(energies) + SPEECH_ABOVE_NOISE_DB, ABSOLUTE_SPEECH_FLOOR_DB);
  const bridgeFrames = Math.round(BRIDGE_GAP_MS / FRAME_MS);
  const minRegionFrames = Math.round(MIN_REGION_MS / FRAME_MS);

  const regions: Array<[number, number]> = [];
  for (let frame = 0; frame < energies.length; frame++) {
    if (energies[frame] < thresholdDb) continue;
    const last = regions.at(-1);
    if (last && frame - last[1] <= bridgeFrames) last[1] = frame + 1;
    else regions.push([frame, frame + 1]);
  }
  return regions.filter(([start, end]) => end - start >= minRegionFrames);
}

/**
 * Finds the speech in a segment. The noise floor adapts to the segment (a steady hum or fan is
 * never speech, however loud), and isolated bursts shorter than ~80 ms (clicks) do not count.
 */
export function detectSpeech(pcm: Int16Array, sampleRate: number): SpeechActivity {
  const frameSamples = Math.max(1, Math.round((sampleRate * FRAME_MS) / 1000));
  const regions = speechRegions(frameEnergiesDb(pcm, frameSamples));
  if (regions.length === 0) return { speechMs: 0, firstSpeechSample: -1, lastSpeechSample: -1 };
  const speechFrames = regions.reduce((sum, [start, end]) => sum + end - start, 0);
  return {
    speechMs: speechFrames * FRAME_MS,
    firstSpeechSample: regions[0][0] * frameSamples,
    lastSpeechSample: regions[regions.length - 1][1] * frameSamples - 1,
  };
}

export interface TrimmedSpeech {
  /** The speech with `paddingMs` of context either side; the whole input when there is no speech. */
  pcm: Int16Array;
  speechMs: number;
}

/** Cuts leading and trailing non-speech, keeping `paddingMs` either side so word edges survive. */
export function trimToSpeech(pcm: Int16Array, sampleRate: number, paddingMs = 200): TrimmedSpeech {
  const activity = detectSpeech(pcm, sampleRate);
  if (activity.speechMs === 0) return { pcm, speechMs: 0 };
  const paddingSamples = Math.round((sampleRate * paddingMs) / 1000);
  const start = Math.max(0, activity.firstSpeechSample - paddingSamples);
  const end = Math.min(pcm.length, activity.lastSpeechSample + 1 + paddingSamples);
  return { pcm: pcm.subarray(start, end), speechMs: activity.speechMs };
}
