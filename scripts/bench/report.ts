/** The printed table (figures beside their targets) and the JSON report. */
import type { CapacityResult, CapacityStep } from './capacity.js';
import type { LatencyResult } from './latency.js';
import type { Summary } from './stats.js';

export const TARGETS = {
  serverAddedP50Ms: 15,
  serverAddedP99Ms: 40,
  jpegMs: 80,
  oggToRtpMs: 3,
  sessions: 60,
};

export interface TargetCheck {
  figure: string;
  measured: string;
  target: string;
  pass: boolean | null;
}

const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'n/a');
const pair = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)}`;
const atMost = (v: number, limit: number) => (Number.isFinite(v) ? v <= limit : false);

export function targetChecks(latency: LatencyResult | undefined, capacity: CapacityResult | undefined): TargetCheck[] {
  const rows: TargetCheck[] = [];
  if (latency?.engine === 'offline') rows.push(...offlineChecks(latency));
  if (latency && latency.engine === 'openai') {
    const added = latency.serverAddedClient;
    rows.push(
      { figure: 'server-added latency p50 (client-observed)', measured: ms(added.p50), target: `≤ ${TARGETS.serverAddedP50Ms} ms`, pass: atMost(added.p50, TARGETS.serverAddedP50Ms) },
      { figure: 'server-added latency p99 (client-observed)', measured: ms(added.p99), target: `≤ ${TARGETS.serverAddedP99Ms} ms`, pass: atMost(added.p99, TARGETS.serverAddedP99Ms) },
      { figure: 'server-added p50 / p99 (server timeline)', measured: pair(latency.serverAddedServer), target: 'info', pass: null },
      { figure: 'release → first reply sound p50 / p99', measured: pair(latency.clientReleaseToSpeech), target: `info (model ${ms(latency.model.p50)})`, pass: null },
      { figure: 'JPEG (release → JPEG ready) p50 / p99', measured: pair(latency.jpeg), target: `≤ ${TARGETS.jpegMs} ms (p50)`, pass: atMost(latency.jpeg.p50, TARGETS.jpegMs) },
      { figure: 'first Ogg page → first RTP p50 / p99', measured: pair(latency.oggToRtp), target: `≤ ${TARGETS.oggToRtpMs} ms (p50)`, pass: atMost(latency.oggToRtp.p50, TARGETS.oggToRtpMs) },
      { figure: 'latency turns ok / failed', measured: `${latency.turns.length - latency.failedTurns} / ${latency.failedTurns}`, target: 'info', pass: null },
    );
  }
  if (capacity) {
    const held = capacity.steps.find((s) => s.sessions === capacity.maxHeld);
    const lastTried = capacity.steps.at(-1);
    const allHeld = lastTried !== undefined && lastTried.sessions === capacity.maxHeld;
    rows.push({
      figure: 'full sessions held',
      measured: `${allHeld ? '≥ ' : ''}${capacity.maxHeld}`,
      target: `≥ ${TARGETS.sessions}`,
      pass: capacity.maxHeld >= TARGETS.sessions,
    });
    if (held) {
      rows.push(
        { figure: `server CPU ms per media second per session (@${held.sessions})`, measured: `${held.server.cpuMsPerMediaSecondPerSession.toFixed(2)} ms`, target: 'info', pass: null },
        { figure: `server RSS per session (@${held.sessions})`, measured: `${held.server.rssPerSessionMb.toFixed(2)} MB`, target: 'info', pass: null },
        { figure: `reply packets > 5 ms late, server (@${held.sessions})`, measured: `${(held.server.lateFraction * 100).toFixed(2)} %`, target: '≤ 1 % (p99 ≤ 5 ms)', pass: held.server.lateFraction <= 0.01 },
        { figure: `reply lateness p99, client-observed (@${held.sessions})`, measured: ms(held.client.latenessMs.p99), target: 'info (includes bench load)', pass: null },
      );
    }
  }
  return rows;
}

/**
 * The offline engine has no remote model, so model time is 0 and the whole release → first reply
 * packet is the server's: its pocketsphinx run and flite + ffmpeg synthesis are local processes.
 * The server-added targets (which exclude model time) therefore do not apply: shown as info.
 */
function offlineChecks(latency: LatencyResult): TargetCheck[] {
  const words = latency.words;
  return [
    { figure: 'release → first reply RTP p50 / p99 (client-observed)', measured: pair(latency.clientReleaseToSpeech), target: 'info (model time 0)', pass: null },
    { figure: 'release → first reply RTP p50 / p99 (server timeline)', measured: pair(latency.serverAddedServer), target: 'info (model time 0)', pass: null },
    { figure: 'transcript (pocketsphinx run) p50 / p99', measured: pair(latency.transcript), target: 'info (local process)', pass: null },
    { figure: 'JPEG (release → JPEG ready) p50 / p99', measured: pair(latency.jpeg), target: `≤ ${TARGETS.jpegMs} ms (p50)`, pass: atMost(latency.jpeg.p50, TARGETS.jpegMs) },
    { figure: 'first Ogg page → first RTP p50 / p99', measured: pair(latency.oggToRtp), target: `≤ ${TARGETS.oggToRtpMs} ms (p50)`, pass: atMost(latency.oggToRtp.p50, TARGETS.oggToRtpMs) },
    {
      figure: 'question words heard (pocketsphinx)',
      measured: words ? `${words.matched}/${words.total} (WER ${(words.wordErrorRate * 100).toFixed(1)} %, ${words.exactTurns} exact)` : 'n/a',
      target: 'info',
      pass: null,
    },
    { figure: 'latency turns ok / failed', measured: `${latency.turns.length - latency.failedTurns} / ${latency.failedTurns}`, target: 'info', pass: null },
  ];
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatTargets(checks: TargetCheck[]): string {
  return table(
    ['figure', 'measured', 'target', ''],
    checks.map((c) => [c.figure, c.measured, c.target, c.pass === null ? '' : c.pass ? 'PASS' : 'FAIL']),
  );
}

export function formatOverheads(latency: LatencyResult): string {
  const rows = Object.entries(latency.overheads).map(([name, s]) => [name, ms(s.p50), ms(s.p99)]);
  const text = table(['where the server-added time goes (server clock)', 'p50', 'p99'], rows);
  if (latency.engine === 'openai') return text;
  const heard = Object.entries(latency.words?.transcripts ?? {}).map(([t, n]) => `  ${n}× "${t}"`);
  return [
    text,
    'model time = 0: the offline engine\'s STT (pocketsphinx) and TTS (flite + ffmpeg) are local processes',
    'the server spawns, so their time is in the server-side figures above.',
    `question: "${latency.question}"; heard:`,
    ...heard,
  ].join('\n');
}

export function formatSteps(steps: CapacityStep[]): string {
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  return table(
    ['sessions', 'playing', 'late>5ms', 'client p99', 'srv main', 'srv waits', 'srv+ffmpeg', 'machine', 'bench', 'others', 'steal', 'CPU ms/s/sess', 'RSS MB', 'MB/sess', 'turn p50', ''],
    steps.map((s) => [
      String(s.sessions),
      `${s.playing}/${s.connected}`,
      `${(s.server.lateFraction * 100).toFixed(2)}%`,
      ms(s.client.latenessMs.p99),
      pct(s.server.mainThreadCores),
      `${(s.server.mainThreadRunQueueShare * 100).toFixed(1)}%`,
      pct(s.server.processCores + s.server.ffmpegCores),
      pct(s.machineBusy),
      pct(s.benchCores),
      pct(s.otherCores),
      // Older reports have no steal figure.
      s.stealCores === undefined ? 'n/a' : pct(s.stealCores),
      s.server.cpuMsPerMediaSecondPerSession.toFixed(1),
      s.server.rssMb.toFixed(0),
      s.server.rssPerSessionMb.toFixed(2),
      ms(s.server.turnLatencyMs.p50),
      s.failures.length ? 'stop' : 'held',
    ]),
  );
}

/** One line per WORKERS ramp of the same run: sessions held, CPU per call and lateness there, and the ratio. */
export function formatWorkerComparison(ramps: CapacityResult[]): string {
  const base = ramps[0]!;
  const lines = ramps.map((ramp) => {
    const held = ramp.steps.find((s) => s.sessions === ramp.maxHeld);
    const allHeld = ramp.steps.at(-1)?.sessions === ramp.maxHeld;
    const ratio = base.maxHeld > 0 ? ` (${(ramp.maxHeld / base.maxHeld).toFixed(2)}× WORKERS=${base.workers})` : '';
    const figures = held
      ? `, CPU ${held.server.cpuMsPerMediaSecondPerSession.toFixed(1)} ms per media second per call, late>5ms ${(held.server.lateFraction * 100).toFixed(2)} %, client lateness p99 ${ms(held.client.latenessMs.p99)}`
      : '';
    return `  WORKERS=${ramp.workers}: ${allHeld ? '≥ ' : ''}${ramp.maxHeld} full calls held${ratio}${figures}`;
  });
  return ['capacity by WORKERS (same run):', ...lines].join('\n');
}
