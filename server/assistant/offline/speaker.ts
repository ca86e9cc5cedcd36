import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineError, type Speaker } from '../engine.js';
import { demuxOggOpus } from '../../media/ogg-opus-demuxer.js';
import { localAudioFfmpegPath } from '../../media/ffmpeg.js';
import { processTimeoutMs } from '../../media/process-runner.js';

export type OfflineVoiceBackend = 'flite' | 'espeak-ng' | 'espeak-ng-wasm';

export interface OfflineSpeakOptions {
  /** Force a voice (tests use this to check the WebAssembly path on a machine that has the binaries). */
  backend?: OfflineVoiceBackend;
}

/**
 * Ogg-Opus as the RTP sender wants it: 48 kHz mono, 20 ms frames, and a page per packet flushed at
 * once (`-page_duration` is in µs) so the first audio leaves while the rest is still encoding.
 */
const ENCODER_ARGS = [
  '-hide_banner', '-loglevel', 'error', '-f', 'wav', '-i', 'pipe:0', '-ac', '1', '-ar', '48000',
  '-c:a', 'libopus', '-application', 'voip', '-frame_duration', '20', '-b:a', '32k',
  '-page_duration', '20000', '-flush_packets', '1', '-f', 'ogg', 'pipe:1',
];

let detected: OfflineVoiceBackend | undefined;

/**
 * The voice used when none is forced: flite's "slt" when installed (pocketsphinx understands it, so
 * the whole loop can be checked by ear and by machine), else the espeak-ng binary, else espeak-ng
 * compiled to WebAssembly (npm `espeak-ng`), which needs nothing installed.
 */
export function offlineVoiceBackend(): OfflineVoiceBackend {
  detected ??= onPath('flite') ? 'flite' : onPath('espeak-ng') ? 'espeak-ng' : 'espeak-ng-wasm';
  return detected;
}

/** The offline text-to-speech stage: the local voice, its Ogg-Opus demuxed into packets. */
export class OfflineSpeaker implements Speaker {
  readonly provider = 'offline' as const;

  constructor(private readonly options: OfflineSpeakOptions = {}) {}

  speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer> {
    return demuxOggOpus(offlineSpeak(sentence, signal, this.options));
  }
}

/** Speaks one sentence; yields Ogg-Opus bytes as ffmpeg produces them. Aborting kills the children. */
export async function* offlineSpeak(
  sentence: string,
  signal: AbortSignal,
  options: OfflineSpeakOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const text = sentence.replace(/\s+/g, ' ').trim();
  signal.throwIfAborted();
  if (!/[\p{L}\p{N}]/u.test(text)) return;
  const backend = options.backend ?? offlineVoiceBackend();
  if (backend !== 'espeak-ng-wasm' && !onPath(backend)) {
    throw new EngineError('unavailable', `The offline voice "${backend}" is not installed (apt-get install ${backend}).`);
  }

  const children: ChildProcess[] = [];
  /** Children started as leaders of their own process group (the flite pipeline): kill the group. */
  const groupLeaders = new Set<ChildProcess>();
  let wasmWorker: Worker | undefined;
  const stopAll = (): void => {
    for (const child of children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(groupLeaders.has(child) ? -child.pid : child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    void wasmWorker?.terminate();
  };
  signal.addEventListener('abort', stopAll, { once: true });
  let failure: unknown;
  const fail = (error: unknown): void => {
    failure ??= error;
    stopAll();
  };
  const limitMs = processTimeoutMs();
  const overtime = setTimeout(
    () => fail(new EngineError('timeout', 'The offline voice took too long, so it was stopped.')),
    limitMs,
  );

  // flite can only write its WAV to a file name, and opening /dev/stdout fails when stdout is a
  // socket (Node's child pipes are sockets), so flite runs in a sh pipeline with a real pipe into
  // ffmpeg, in a process group of its own so abort kills both.
  const encoder =
    backend === 'flite'
      ? spawn('/bin/sh', ['-c', 'text=$1; shift; flite -voice slt -t "$text" -o /dev/stdout | exec "$0" "$@"', localAudioFfmpegPath(), text, ...ENCODER_ARGS], {
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        })
      : spawn(localAudioFfmpegPath(), ENCODER_ARGS, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(encoder);
  if (backend === 'flite') groupLeaders.add(encoder);
  encoder.on('error', fail);
  encoder.stdin?.on('error', () => {}); // EPIPE after a kill: reported through `failure` / abort
  let encoderErrors = '';
  encoder.stderr?.setEncoding('utf8').on('data', (chunk: string) => (encoderErrors = (encoderErrors + chunk).slice(-2000)));
  const encoderExit = new Promise<number | null>((resolve) => encoder.once('close', (code) => resolve(code)));

  if (backend === 'espeak-ng-wasm') {
    wasmWorker = synthesiseWithWasm(text, (wav) => encoder.stdin?.end(wav), fail);
  } else if (backend === 'espeak-ng') {
    // The text goes in on stdin, so a sentence starting with "-" is never taken for an option.
    const synth = spawn('espeak-ng', ['-v', 'en-us', '--stdout'], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(synth);
    synth.on('error', fail);
    synth.stdin.on('error', () => {});
    synth.stdin.end(text);
    if (encoder.stdin) synth.stdout.pipe(encoder.stdin);
  }

  try {
    for await (const chunk of encoder.stdout) {
      if (signal.aborted || failure !== undefined) break;
      yield chunk as Buffer;
    }
    const code = await encoderExit;
    signal.throwIfAborted();
    if (failure !== undefined) throw failure;
    if (code !== 0) throw new EngineError('server', 'The offline voice could not be encoded.', { cause: new Error(encoderErrors.trim()) });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error instanceof EngineError ? error : new EngineError('server', 'The offline voice failed.', { cause: error });
  } finally {
    clearTimeout(overtime);
    signal.removeEventListener('abort', stopAll);
    stopAll();
  }
}

function onPath(binary: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let compiledEspeak: Promise<WebAssembly.Module> | undefined;

/**
 * The WebAssembly espeak-ng runs its CLI `main` synchronously for ~0.2 s per sentence, so it gets a
 * worker thread of its own: the RTP pacer on the main thread must never stall. A fresh module
 * instance per sentence, because the build's `main` is made to run once; the 18 MB binary (voice
 * data embedded) is compiled once and shared. Text in and WAV out go through its in-memory files.
 */
function synthesiseWithWasm(text: string, onWav: (wav: Buffer) => void, onError: (error: unknown) => void): Worker {
  const scriptPath = createRequire(import.meta.url).resolve('espeak-ng');
  compiledEspeak ??= readFile(scriptPath.replace(/\.js$/, '.wasm')).then((bytes) => WebAssembly.compile(bytes));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    parentPort.once('message', async (wasmModule) => {
      const { default: createESpeakNg } = await import(workerData.moduleUrl);
      const espeak = await createESpeakNg({
        arguments: ['-v', 'en-us', '-w', '/out.wav', '-f', '/in.txt'],
        print() {}, printErr() {},
        preRun: [(module) => module.FS.writeFile('/in.txt', workerData.text)],
        instantiateWasm(imports, done) {
          WebAssembly.instantiate(wasmModule, imports).then((instance) => done(instance));
          return {};
        },
      });
      const wav = espeak.FS.readFile('/out.wav');
      parentPort.postMessage(wav, [wav.buffer]);
    });`,
    { eval: true, workerData: { moduleUrl: pathToFileURL(scriptPath).href, text } },
  );
  const failed = (error: unknown): void =>
    onError(new EngineError('unavailable', 'The built-in offline voice (espeak-ng WebAssembly) failed.', { cause: error }));
  compiledEspeak.then((wasmModule) => worker.postMessage(wasmModule), failed);
  worker.once('message', (wav: Uint8Array) => {
    onWav(Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength));
    void worker.terminate();
  });
  worker.once('error', failed);
  return worker;
}
