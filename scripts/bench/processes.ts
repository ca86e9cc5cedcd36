/**
 * The two servers a bench run drives, each a child process: the fake OpenAI API (its own event
 * loop, so the bench's client peers never delay its answers or its request times) and the real
 * assistant server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SentenceSplitter } from '../../server/assistant/sentence-splitter.js';
import { startFakeOpenAIProcess, type FakeOpenAIProcess } from '../../test/fake-openai/process.js';
import type { BenchOptions } from './options.js';
import { sleep } from './stats.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOST = '127.0.0.1';

export async function startBenchFake(options: BenchOptions, transcript: string, reply: string): Promise<FakeOpenAIProcess> {
  return startFakeOpenAIProcess({
    host: HOST,
    apiKey: 'bench',
    transcript,
    reply,
    behaviour: {
      transcriptions: { firstByteDelayMs: options.sttDelayMs },
      // Streamed STT: the same delay, from a commit to its first transcript delta.
      realtime: { firstByteDelayMs: options.sttDelayMs },
      chat: { firstByteDelayMs: options.chatDelayMs, chunkGapMs: options.chatTokenGapMs },
      speech: { firstByteDelayMs: options.ttsDelayMs },
    },
  });
}

/**
 * Has the fake synthesise every sentence the server will ask it to speak, once, before measuring:
 * the fake caches speech by text, but concurrent first requests for one sentence would each run
 * flite + ffmpeg and steal CPU from the server during a capacity step. The sentences come from
 * the server's own splitter so the cached texts match exactly.
 */
export async function prewarmSpeech(fake: FakeOpenAIProcess, replies: readonly string[]): Promise<number> {
  const sentences: string[] = [];
  for (const reply of replies) {
    const splitter = new SentenceSplitter();
    sentences.push(...splitter.push(reply), ...splitter.flush());
  }
  await fake.prewarmSpeech(sentences);
  return sentences.length;
}

export interface ServerProcess {
  /** The process started: with WORKERS > 1 the cluster primary. */
  readonly pid: number;
  readonly workers: number;
  readonly baseUrl: string;
  /** The last lines the server wrote (for error reports). */
  readonly recentOutput: string[];
  /** /metrics as text. */
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** GET over HTTPS to the self-signed server; resolves with status and body. */
export function httpsGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

/** `offline`: the server's own pocketsphinx/flite engine; `openai`: the OpenAI engine pointed at the fake; `realtime`: speech-to-speech on the fake. */
export type ServerEngine = { kind: 'offline' } | { kind: 'openai' | 'realtime'; fakeBaseURL: string };

export interface ServerRunOptions {
  cpuProfDir?: string;
  nodeFlags?: string[];
  /** File the server's stdout and stderr are written to. */
  outputFile?: string;
  /** More settings for the server (e.g. STT_STREAMING). */
  env?: Record<string, string>;
  /** WORKERS (default 1: one process); the server starts through `npm start`'s entry, server/start.ts. */
  workers?: number;
}

export async function startServer(engine: ServerEngine, run: ServerRunOptions = {}): Promise<ServerProcess> {
  const { cpuProfDir, nodeFlags = [], outputFile, env = {}, workers = 1 } = run;
  const port = await freePort();
  const certsDir = await mkdtemp(path.join(os.tmpdir(), 'bench-certs-'));
  const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProfDir)}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profiling, ...nodeFlags, '--import', 'tsx', 'server/start.ts'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOST,
      PORT: String(port),
      CERTS_DIR: certsDir,
      ASSISTANT_ENGINE: engine.kind,
      OPENAI_API_KEY: engine.kind === 'offline' ? '' : 'bench',
      OPENAI_BASE_URL: engine.kind === 'offline' ? '' : engine.fakeBaseURL,
      LOG_LEVEL: 'warn',
      // Set (empty) so a developer's .env cannot point the run elsewhere: dotenv never overrides.
      AZURE_OPENAI_ENDPOINT: '',
      AZURE_OPENAI_API_KEY: '',
      TLS_CERT: '',
      TLS_KEY: '',
      NODE_ENV: 'production',
      STT_STREAMING: 'off',
      ...Object.fromEntries(['STT', 'CHAT', 'TTS'].flatMap((stage) => [`${stage}_PROVIDER`, `${stage}_BASE_URL`, `${stage}_API_KEY`].map((name) => [name, '']))),
      TTS_FORMAT: 'opus',
      WORKERS: String(workers),
      REDIS_URL: '',
      ICE_PORT_RANGE: '',
      ICE_PUBLIC_IP: '',
      ...env,
    },
  });
  const recentOutput: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      recentOutput.push(line.slice(0, 500));
      if (recentOutput.length > 200) recentOutput.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (outputFile) {
    const output = createWriteStream(outputFile);
    child.stdout?.pipe(output);
    child.stderr?.pipe(output);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const baseUrl = `https://${HOST}:${port}`;
  const deadline = performance.now() + 90_000; // a cluster starts every worker at once; a busy machine is slow
  for (;;) {
    if (hasExited) throw new Error(`the server exited during start-up:\n${recentOutput.join('\n')}`);
    const health = await httpsGet(`${baseUrl}/healthz`, 1000).catch(() => undefined);
    if (health?.status === 200) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /healthz within 90 s:\n${recentOutput.join('\n')}`);
    }
    await sleep(100);
  }

  return {
    pid: child.pid!,
    workers,
    baseUrl,
    recentOutput,
    metricsText: async () => (await httpsGet(`${baseUrl}/metrics`)).body,
    async stop() {
      if (!hasExited) {
        child.kill('SIGTERM');
        const forced = sleep(6000).then(() => {
          if (!hasExited) child.kill('SIGKILL');
        });
        await Promise.race([exited, forced]);
        await exited;
      }
      await rm(certsDir, { recursive: true, force: true });
    },
  };
}

/**
 * Sum of a metric's samples in Prometheus text format, over the label sets that contain every
 * `labels` pair. By hand because prom-client writes this format but has no reader for it.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) total += Number(match[3]);
  }
  return total;
}
