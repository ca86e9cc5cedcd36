/**
 * The fake OpenAI API in a child process of its own, driven over IPC. The bench uses it so the
 * fake's timing is not delayed by the bench's own event loop (its werift client peers pump media
 * every 20 ms). Request timings come back on the child's clock: compare them only with each other.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EndpointBehaviour, FakeEndpoint, FakeOpenAIOptions, RealtimeCommitRecord, RecordedRealtimeResponse, RecordedRequest } from './types.js';

/** What can cross the process boundary: answers are fixed strings instead of functions. */
export type FakeProcessOptions = Omit<FakeOpenAIOptions, 'transcript' | 'reply'> & {
  transcript?: string;
  reply?: string;
};

/** A recorded request without its body, headers and promise; times are the child's `performance.now()`. */
export type RequestTiming = Pick<
  RecordedRequest,
  'endpoint' | 'method' | 'path' | 'remotePort' | 'status' | 'receivedAt' | 'firstByteAt' | 'lastByteAt' | 'chunksSent' | 'outcome'
>;

export type FakeCommand =
  | { op: 'configure'; changes: { reply?: string; transcript?: string } }
  | { op: 'setBehaviour'; endpoint: FakeEndpoint; behaviour: EndpointBehaviour }
  | { op: 'prewarmSpeech'; sentences: string[] }
  | { op: 'takeRequests' }
  | { op: 'takeRealtimeCommits' }
  | { op: 'takeRealtimeResponses' };

/** A Realtime commit's timing (the child's clock). */
export type RealtimeCommitTiming = RealtimeCommitRecord;
/** A speech-to-speech response's timing (the child's clock), without its image. */
export type RealtimeResponseTiming = Omit<RecordedRealtimeResponse, 'image'>;

export type ChildMessage =
  | { kind: 'ready'; baseURL: string; port: number }
  | { kind: 'reply'; id: number; value?: unknown; error?: string };

export interface FakeOpenAIProcess {
  readonly baseURL: string;
  readonly port: number;
  readonly pid: number;
  configure(changes: { reply?: string; transcript?: string }): Promise<void>;
  setBehaviour(endpoint: FakeEndpoint, behaviour: EndpointBehaviour): Promise<void>;
  /** Synthesises these sentences once in the child (Ogg-Opus and PCM), so its speech cache answers them at once. */
  prewarmSpeech(sentences: readonly string[]): Promise<void>;
  /** The requests recorded since the last call (finished or not), oldest first. */
  takeRequests(): Promise<RequestTiming[]>;
  /** The Realtime commits of every session since the last call, oldest first (then forgets the sessions that closed). */
  takeRealtimeCommits(): Promise<RealtimeCommitTiming[]>;
  /** The speech-to-speech responses of every session since the last call, oldest first. */
  takeRealtimeResponses(): Promise<RealtimeResponseTiming[]>;
  close(): Promise<void>;
}

const CHILD_MAIN = fileURLToPath(new URL('./process-main.ts', import.meta.url));

export async function startFakeOpenAIProcess(options: FakeProcessOptions = {}): Promise<FakeOpenAIProcess> {
  const child: ChildProcess = fork(CHILD_MAIN, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, FAKE_OPENAI_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let exitedWith: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedWith = `the fake OpenAI process exited (${signal ?? code})`;
      for (const { reject } of pending.values()) reject(new Error(exitedWith));
      pending.clear();
      resolve();
    });
  });

  const ready = new Promise<{ baseURL: string; port: number }>((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error(exitedWith)));
    child.on('message', (message: ChildMessage) => {
      if (message.kind === 'ready') return resolve(message);
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.value);
    });
  });
  const { baseURL, port } = await ready;

  function call<T>(command: FakeCommand): Promise<T> {
    if (exitedWith) return Promise.reject(new Error(exitedWith));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, ...command });
    });
  }

  return {
    baseURL,
    port,
    pid: child.pid!,
    configure: (changes) => call({ op: 'configure', changes }),
    setBehaviour: (endpoint, behaviour) => call({ op: 'setBehaviour', endpoint, behaviour }),
    prewarmSpeech: (sentences) => call({ op: 'prewarmSpeech', sentences: [...sentences] }),
    takeRequests: () => call({ op: 'takeRequests' }),
    takeRealtimeCommits: () => call({ op: 'takeRealtimeCommits' }),
    takeRealtimeResponses: () => call({ op: 'takeRealtimeResponses' }),
    async close() {
      if (exitedWith) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(forced);
    },
  };
}
