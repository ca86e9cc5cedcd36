import { Worker } from 'node:worker_threads';

export interface ProcessResult {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/*
 * Short-lived child processes (ffmpeg for a snapshot) are started from a worker thread, not the
 * main one: spawn() forks, and fork() copies the page tables of the whole process — measured here
 * at ~15 ms for a 250 MB server against ~2 ms for a bare Node process. On the main thread that
 * stall makes the shared 20 ms packet clock tick late for every session; in the worker only the
 * worker waits. Plain JavaScript so the worker needs no TypeScript loader.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const running = new Map();
parentPort.on('message', (message) => {
  if (message.kill) {
    const child = running.get(message.id);
    if (!child) return;
    try {
      // A pipeline runs in its own process group: kill all of it.
      if (message.group && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {}
    return;
  }
  const { id, command, args, input, group, maxStdoutBytes } = message;
  let child;
  try {
    child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: Boolean(group) });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
    return;
  }
  running.set(id, child);
  const stdout = [];
  const stderr = [];
  let stdoutBytes = 0;
  let stderrBytes = 0;
  child.stdout.on('data', (chunk) => {
    stdoutBytes += chunk.length;
    if (stdoutBytes <= maxStdoutBytes) return void stdout.push(chunk);
    running.delete(id);
    try {
      if (group && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {}
    parentPort.postMessage({ id, error: 'wrote more than ' + maxStdoutBytes + ' bytes', limit: 'output' });
  });
  child.stderr.on('data', (chunk) => {
    stderrBytes += chunk.length;
    if (stderrBytes <= 65536) stderr.push(chunk);
  });
  child.stdin.on('error', () => {});
  child.on('error', (error) => {
    running.delete(id);
    parentPort.postMessage({ id, error: String(error.message || error) });
  });
  child.on('close', (code) => {
    if (!running.delete(id)) return;
    const out = Buffer.concat(stdout);
    const err = Buffer.concat(stderr);
    const outCopy = out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
    parentPort.postMessage({ id, code, stdout: outCopy, stderr: err.toString('utf8') }, [outCopy]);
  });
  child.stdin.end(Buffer.from(input));
});
`;

interface Pending {
  resolve(result: ProcessResult): void;
  reject(error: unknown): void;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function runner(): Worker {
  if (worker) return worker;
  const started = new Worker(WORKER_SOURCE, { eval: true });
  started.unref(); // never keeps the server alive on its own
  started.on('message', (message: { id: number; code?: number | null; stdout?: ArrayBuffer; stderr?: string; error?: string; limit?: string }) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.limit) waiting.reject(new ProcessLimitError(message.error ?? 'output limit'));
    else if (message.error !== undefined) waiting.reject(new Error(message.error));
    else
      waiting.resolve({
        code: message.code ?? null,
        stdout: Buffer.from(message.stdout ?? new ArrayBuffer(0)),
        stderr: Buffer.from(message.stderr ?? ''),
      });
  });
  started.on('error', (error) => {
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    worker = undefined;
  });
  worker = started;
  return started;
}

/** A child was stopped by a limit: it ran too long or wrote too much. */
export class ProcessLimitError extends Error {
  override name = 'ProcessLimitError';
}

const limits = { timeoutMs: 20_000, maxStdoutBytes: 256 * 1024 * 1024 };

/** Server-wide defaults (CHILD_PROCESS_TIMEOUT_MS), set once at start-up. */
export function setProcessLimits(next: Partial<typeof limits>): void {
  Object.assign(limits, next);
}

/** The run-time limit every child process of this server gets. */
export function processTimeoutMs(): number {
  return limits.timeoutMs;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Killed after this long (default: setProcessLimits' timeoutMs). */
  timeoutMs?: number;
  /** Killed once it has written more than this to stdout. */
  maxStdoutBytes?: number;
  /** Start it in its own process group (a shell pipeline), so abort kills every process in it. */
  processGroup?: boolean;
}

/** Runs `command` with `input` on stdin and collects its output, without forking on this thread. */
export function runProcess(
  command: string,
  args: readonly string[],
  input: Buffer,
  signalOrOptions?: AbortSignal | RunOptions,
): Promise<ProcessResult> {
  const options: RunOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
  const { signal } = options;
  const group = options.processGroup === true;
  signal?.throwIfAborted();
  const id = nextId++;
  const thread = runner();
  const timeoutMs = options.timeoutMs ?? limits.timeoutMs;
  const maxStdoutBytes = options.maxStdoutBytes ?? limits.maxStdoutBytes;
  return new Promise<ProcessResult>((resolve, reject) => {
    const stop = (reason: unknown) => {
      pending.delete(id);
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
      thread.postMessage({ id, kill: true, group });
      reject(reason);
    };
    const onAbort = () => stop(signal!.reason);
    const timer = setTimeout(() => stop(new ProcessLimitError(`${command} ran longer than ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    };
    pending.set(id, {
      resolve: (result) => {
        settle();
        resolve(result);
      },
      reject: (error) => {
        settle();
        reject(error);
      },
    });
    const copy = input.buffer.slice(input.byteOffset, input.byteOffset + input.length);
    thread.postMessage({ id, command, args, input: copy, group, maxStdoutBytes }, [copy as ArrayBuffer]);
  });
}
