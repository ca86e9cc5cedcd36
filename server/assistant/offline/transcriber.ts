import { EngineError, type MicSegment, type Transcriber } from '../engine.js';
import { localAudioFfmpegPath } from '../../media/ffmpeg.js';
import { ProcessLimitError, runProcess } from '../../media/process-runner.js';

/** The rate of the en-us acoustic model shipped in Debian's pocketsphinx-en-us. */
const MODEL_SAMPLE_RATE = 16_000;
/** Silence around the speech lets pocketsphinx's voice detector and noise estimate settle. */
const PADDING_MS = 300;
const INSTALL_HINT = 'run `apt-get install pocketsphinx pocketsphinx-en-us`';

export interface PocketsphinxOptions {
  /** The pocketsphinx_continuous binary (default: from PATH). */
  binary?: string;
}

/**
 * Speech to text with Debian's `pocketsphinx_continuous` (0.8), which prints one line per utterance
 * its voice detector finds (its log goes to stderr, kept for error reports). Resolves to lowercase
 * text, '' if nothing was recognised.
 *
 * The audio goes in from memory, no temp file: 0.8 fopen()s `-infile` and parses a WAV header only
 * when the name ends in ".wav", so `-infile /dev/stdin` reads raw 16 kHz s16le. fopen() on
 * /dev/stdin fails (ENXIO) when stdin is a socket, which is what Node's child stdio pipes are, so a
 * `sh` pipeline puts a real pipe in between: `cat` (or ffmpeg, resampling, when the rate is not
 * 16 kHz) | pocketsphinx_continuous.
 */
export async function transcribeWithPocketsphinx(
  pcm: Int16Array,
  sampleRate: number,
  signal: AbortSignal,
  options: PocketsphinxOptions = {},
): Promise<string> {
  signal.throwIfAborted();
  if (pcm.length === 0) return '';
  if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192_000) {
    throw new EngineError('bad_request', `Unsupported sample rate ${sampleRate} for speech recognition.`);
  }
  const padded = padWithSilence(pcm, sampleRate);
  const feeder =
    sampleRate === MODEL_SAMPLE_RATE
      ? 'cat'
      : `"$2" -hide_banner -loglevel error -f s16le -ar ${sampleRate} -ac 1 -i pipe:0 -f s16le -ar ${MODEL_SAMPLE_RATE} -ac 1 pipe:1`;
  // Spawned from the process-runner worker (a fork here would stall the packet clock), in its own
  // process group so an abort kills the whole pipeline at once.
  try {
    const input = Buffer.from(padded.buffer, padded.byteOffset, padded.byteLength);
    const result = await runProcess(
      '/bin/sh',
      ['-c', `${feeder} | exec "$1" -infile /dev/stdin`, 'sh', options.binary ?? 'pocketsphinx_continuous', localAudioFfmpegPath()],
      input,
      { signal, processGroup: true },
    );
    const { code } = result;
    const stdout = result.stdout.toString('utf8');
    const stderr = result.stderr.toString('utf8').slice(-4000);
    signal.throwIfAborted();
    if (code === 127) {
      throw new EngineError('unavailable', `Offline speech recognition needs pocketsphinx: ${INSTALL_HINT}.`, {
        cause: new Error(stderr.trim()),
      });
    }
    if (code !== 0) {
      throw new EngineError(
        'unavailable',
        `Offline speech recognition failed (pocketsphinx exited with ${code}); is pocketsphinx-en-us installed? ${INSTALL_HINT}.`,
        { cause: new Error(stderr.trim().split('\n').slice(-3).join(' ')) },
      );
    }
    return stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .join(' ')
      .toLowerCase();
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof EngineError) throw error;
    if (error instanceof ProcessLimitError) {
      throw new EngineError('timeout', 'Offline speech recognition took too long, so it was stopped. Please try again.', { cause: error });
    }
    throw new EngineError('server', 'Offline speech recognition failed.', { cause: error });
  }
}

function padWithSilence(pcm: Int16Array, sampleRate: number): Int16Array {
  const pad = Math.round((sampleRate * PADDING_MS) / 1000);
  const padded = new Int16Array(pcm.length + 2 * pad);
  padded.set(pcm, pad);
  return padded;
}

/** The offline speech-to-text stage: pocketsphinx on the segment after release (no streaming). */
export class OfflineTranscriber implements Transcriber {
  readonly provider = 'offline' as const;

  constructor(private readonly options: PocketsphinxOptions = {}) {}

  transcribe(segment: MicSegment, signal: AbortSignal): Promise<string> {
    return transcribeWithPocketsphinx(segment.pcm, segment.sampleRate, signal, this.options);
  }
}
