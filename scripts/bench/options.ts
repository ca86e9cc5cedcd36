import { parseArgs } from 'node:util';

/** Everything a bench run can be told from the command line. */
export interface BenchOptions {
  /** Which assistant engine the server runs: `openai` against the fake (its own child process), or `offline`. */
  engine: 'openai' | 'offline' | 'realtime';
  turns: number;
  /** Concurrent sessions to hold, in order; the ramp stops at the first step that fails. */
  steps: number[];
  /** The capacity ramp is run once per WORKERS value, each on a fresh server, in this order. */
  workers: number[];
  holdSeconds: number;
  /** Fixed model delays the fake OpenAI server adds (ms). */
  sttDelayMs: number;
  chatDelayMs: number;
  /** Gap between streamed chat chunks (≈ one word each); 0 sends the whole reply at once. */
  chatTokenGapMs: number;
  ttsDelayMs: number;
  /** Speech-to-speech: the fake's delay from response.create to the first audio delta. */
  realtimeDelayMs: number;
  out: string;
  quick: boolean;
  skipLatency: boolean;
  skipCapacity: boolean;
  /** Hard cap on the whole run; the bench stops and reports what it has. */
  maxMinutes: number;
  /** How long to wait at the start for other processes to leave the machine quiet. */
  quietWaitSeconds: number;
  /** When set, the server runs with `node --cpu-prof` and writes its profile into this folder. */
  cpuProfDir?: string;
  /** Extra Node flags for the server process (e.g. `--trace-gc`). */
  serverNodeFlags: string[];
  /** When set, the server's stdout and stderr are written to this file. */
  serverOutput?: string;
  /** Compare streamed STT with one upload after release (instead of the latency and capacity phases). */
  sttStreaming: boolean;
  /** Hands-free turn-taking: endpointing delay, barge-in stop time, CPU per call hands-free vs push-to-talk. */
  handsFree: boolean;
  /** Calls in the hands-free CPU comparison. */
  handsFreeCalls: number;
}

const HELP = `npm run bench -- [flags]
  --engine openai|offline|realtime  the server's engine (default openai, against the fake OpenAI API);
                         offline: pocketsphinx STT and flite TTS run by the server, no model time;
                         realtime: speech-to-speech beside the cascade (openai) engine, two servers on one
                         fake, alternating turns (--turns per engine, default 20); no capacity phase
  --realtime-ms          the fake's delay from response.create to the first reply audio (default 300)
  --turns N              latency turns (default 50; offline 10; --quick: 6)
  --steps 5,10,20        concurrent sessions per capacity step (default 5,10,20,30,40,60,80; --quick: 2,4);
                         with --engine offline the capacity phase runs only when --steps is given
  --workers 1,2          WORKERS of the server for each capacity ramp, in order, each on a fresh server
                         (default 1,2; the latency phase runs with the first)
  --hold S               seconds each capacity step is measured (default 10; --quick: 4)
  --stt-ms / --chat-ms / --tts-ms   fake model delays to first byte (default 150 / 200 / 150)
  --chat-token-gap-ms    gap between streamed chat words (default 0)
  --out FILE             JSON report (default bench-report.json)
  --quick                small smoke run
  --no-latency / --no-capacity      skip a phase
  --max-minutes M        stop the whole run after M minutes (default 8, +4 per extra --workers ramp)
  --quiet-wait S         wait up to S seconds for other processes to go quiet first (default 30; --quick: 0)
  --cpu-prof DIR         run the server under node --cpu-prof (profile written to DIR at exit)
  --server-node-flags F  extra Node flags for the server, space-separated (e.g. "--trace-gc")
  --server-output FILE   write the server's stdout and stderr to FILE
  --stt-streaming        instead: streamed STT (Realtime transcription) against one upload after release,
                         two servers on one fake, alternating turns (--turns per cell, default 10)
  --hands-free           instead: hands-free turns (end of speech → first reply sound), barge-in stop time,
                         and CPU per call hands-free vs push-to-talk (--turns, default 20)
  --hands-free-calls N   calls in that CPU comparison (default 10)`;

function positiveInt(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number ≥ 0, got "${text}"`);
  return value;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      engine: { type: 'string', default: 'openai' },
      turns: { type: 'string' },
      steps: { type: 'string' },
      workers: { type: 'string' },
      hold: { type: 'string' },
      'stt-ms': { type: 'string' },
      'chat-ms': { type: 'string' },
      'chat-token-gap-ms': { type: 'string' },
      'tts-ms': { type: 'string' },
      'realtime-ms': { type: 'string' },
      out: { type: 'string', default: 'bench-report.json' },
      quick: { type: 'boolean', default: false },
      'no-latency': { type: 'boolean', default: false },
      'no-capacity': { type: 'boolean', default: false },
      'max-minutes': { type: 'string' },
      'quiet-wait': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'server-node-flags': { type: 'string' },
      'server-output': { type: 'string' },
      'stt-streaming': { type: 'boolean', default: false },
      'hands-free': { type: 'boolean', default: false },
      'hands-free-calls': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const quick = values.quick;
  const engine = values.engine;
  if (engine !== 'openai' && engine !== 'offline' && engine !== 'realtime') throw new Error(`--engine must be openai, offline or realtime, got "${engine}"`);
  const steps = (values.steps ?? (quick ? '2,4' : '5,10,20,30,40,60,80'))
    .split(',')
    .map((s) => positiveInt(s.trim(), 0, 'steps'))
    .filter((n) => n > 0);
  if (steps.length === 0 || steps.some((n, i) => i > 0 && n <= steps[i - 1]!)) {
    throw new Error('--steps must be increasing session counts, e.g. 5,10,20');
  }
  if (steps.at(-1)! > 200) throw new Error('--steps: at most 200 sessions');
  const workers = (values.workers ?? (quick ? '1' : '1,2')).split(',').map((s) => positiveInt(s.trim(), 0, 'workers'));
  if (workers.length === 0 || workers.some((n) => n < 1 || n > 64)) throw new Error('--workers must be a list of 1–64, e.g. 1,2');
  return {
    engine,
    turns: Math.min(1000, positiveInt(values.turns, quick ? 6 : engine === 'offline' || values['stt-streaming'] ? 10 : values['hands-free'] || engine === 'realtime' ? 20 : 50, 'turns')),
    steps,
    workers,
    holdSeconds: Math.max(2, Math.min(120, positiveInt(values.hold, quick ? 4 : 10, 'hold'))),
    sttDelayMs: positiveInt(values['stt-ms'], 150, 'stt-ms'),
    chatDelayMs: positiveInt(values['chat-ms'], 200, 'chat-ms'),
    chatTokenGapMs: positiveInt(values['chat-token-gap-ms'], 0, 'chat-token-gap-ms'),
    ttsDelayMs: positiveInt(values['tts-ms'], 150, 'tts-ms'),
    realtimeDelayMs: positiveInt(values['realtime-ms'], 300, 'realtime-ms'),
    out: values.out,
    quick,
    skipLatency: values['no-latency'],
    // The offline engine's capacity is bounded by its local STT/TTS processes, not the media path:
    // measured only on request.
    skipCapacity: values['no-capacity'] || (engine === 'offline' && values.steps === undefined),
    maxMinutes: Math.max(1, Math.min(60, positiveInt(values['max-minutes'], 8 + 4 * (workers.length - 1), 'max-minutes'))),
    cpuProfDir: values['cpu-prof'],
    serverNodeFlags: (values['server-node-flags'] ?? '').split(/\s+/).filter((flag) => flag !== ''),
    serverOutput: values['server-output'],
    sttStreaming: values['stt-streaming'],
    handsFree: values['hands-free'],
    handsFreeCalls: Math.max(1, Math.min(100, positiveInt(values['hands-free-calls'], 10, 'hands-free-calls'))),
    quietWaitSeconds: Math.min(600, positiveInt(values['quiet-wait'], quick ? 0 : 30, 'quiet-wait')),
  };
}
