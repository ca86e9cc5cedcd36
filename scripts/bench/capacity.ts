/**
 * Capacity phase: ramps concurrent full sessions (mic Opus 50 packets/s, 640x480 VP8 at 25 fps,
 * and a long spoken reply playing all the time: each session asks a typed question again as soon
 * as the previous answer ends) and measures each step while it is held.
 */
import os from 'node:os';
import type { RtpPacket } from 'werift';
import { BenchSession, isSilence } from './bench-session.js';
import type { BenchMedia, MediaPump } from './media-pump.js';
import { metricValue, type ServerProcess } from './processes.js';
import {
  busiestMainThread, busiestProcesses, coresUsed, kernelAndSteal, machineBusy, sampleMachine, sampleProcess, sampleProcessTable, sampleServer, serverPids,
} from './proc-stats.js';
import { round, roundedSummary, sleep, summarise, type Summary } from './stats.js';

/** Stop thresholds: p99 lateness > 5 ms means more than 1 % of packets over 5 ms late. */
export const LIMITS = { lateFraction: 0.01, mainThreadCores: 0.95, serverCores: 1.9, machineBusy: 0.97, playingShare: 0.95 };

export interface CapacityStep {
  /** Server worker processes (WORKERS). */
  workers: number;
  sessions: number;
  connected: number;
  /** Sessions that received reply speech during the hold. */
  playing: number;
  holdSeconds: number;
  server: {
    packetsSent: number;
    latePackets: number;
    lateFraction: number;
    /** The busiest worker's event loop (each saturates at one core). */
    mainThreadCores: number;
    /** Every server process (primary and workers, all threads). */
    processCores: number;
    ffmpegCores: number;
    /** Share of the hold the main thread was runnable but had no CPU (others' load shows here). */
    mainThreadRunQueueShare: number;
    cpuMsPerMediaSecondPerSession: number;
    rssMb: number;
    rssPerSessionMb: number;
    /** Typed turns: release → first reply packet sent (server timeline). */
    turnLatencyMs: Summary;
  };
  client: {
    replyPackets: number;
    speechPackets: number;
    /** Arrival minus the packet's RTP-timestamp slot, relative to the session's earliest (ms). */
    latenessMs: Summary;
    /** |inter-arrival − RTP timestamp step| (ms). */
    interArrivalJitterMs: Summary;
  };
  machineBusy: number;
  benchCores: number;
  /** Cores used by everything else on the machine during the hold (other people's work). */
  otherCores: number;
  /** The busiest processes other than the server and the bench during the hold (its children included). */
  busiestOthers: { pid: number; comm: string; ppid: number; cores: number }[];
  /** Of the machine's busy time: interrupts (irq + softirq) and steal by the hypervisor, in cores. */
  irqCores: number;
  stealCores: number;
  benchPumpLateP99Ms: number;
  /** The hold on the monotonic clock in µs (the clock of a V8 .cpuprofile), to cut a profile to it. */
  holdMonotonicUs: [number, number];
  failures: string[];
  /** Conditions that make the step's figures doubtful without stopping the ramp. */
  warnings: string[];
}

export interface CapacityResult {
  workers: number;
  steps: CapacityStep[];
  maxHeld: number;
  stopReason: string;
  baselineRssMb: number;
}

class LoadedSession {
  private transits: number[] = [];
  private jitter: number[] = [];
  private firstTs?: number;
  private lastAt?: number;
  private lastTs = 0;
  replyPackets = 0;
  speechPackets = 0;
  speechEver = false;
  turnLatencies: number[] = [];
  stopped = false;

  constructor(readonly bench: BenchSession) {
    bench.onReplyPacket = (rtp, at) => this.onPacket(rtp, at);
  }

  private onPacket(rtp: RtpPacket, at: number): void {
    const ts = rtp.header.timestamp;
    this.firstTs ??= ts;
    const mediaMs = ((ts - this.firstTs) >>> 0) / 48;
    this.transits.push(at - mediaMs);
    if (this.lastAt !== undefined) this.jitter.push(Math.abs(at - this.lastAt - (((ts - this.lastTs) >>> 0) / 48)));
    this.lastAt = at;
    this.lastTs = ts;
    this.replyPackets++;
    if (!isSilence(rtp)) {
      this.speechPackets++;
      this.speechEver = true;
    }
  }

  resetWindow(): void {
    this.transits = [];
    this.jitter = [];
    this.replyPackets = 0;
    this.speechPackets = 0;
    this.turnLatencies = [];
  }

  /** Per-packet lateness in this window: transit above the fastest transit seen. */
  lateness(): number[] {
    let min = Infinity;
    for (const t of this.transits) if (t < min) min = t;
    return this.transits.map((t) => t - min);
  }

  get jitterValues(): number[] {
    return this.jitter;
  }

  /** Asks again each time an answer ends, until stopped. */
  async keepAsking(question: string): Promise<void> {
    await sleep(500); // let a keyframe arrive, so the question comes with a picture
    while (!this.stopped && !this.bench.closed) {
      this.bench.ask(question);
      let end;
      for (let waited = 0; !end && !this.stopped && waited < 90; waited++) end = await this.bench.nextTurnEnd(1000);
      if (end?.kind === 'done' && end.latencyMs !== undefined) this.turnLatencies.push(end.latencyMs);
      if (end && end.kind !== 'done') await sleep(1000);
    }
  }
}

async function openSessions(count: number, open: () => Promise<BenchSession>): Promise<{ opened: BenchSession[]; errors: string[] }> {
  const opened: BenchSession[] = [];
  const errors: string[] = [];
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      try {
        opened.push(await open());
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
  return { opened, errors };
}

export async function runCapacity(options: {
  server: ServerProcess;
  /** WORKERS the server runs with (its workers are sampled with it). */
  workers?: number;
  media: BenchMedia;
  pump: MediaPump;
  steps: number[];
  holdSeconds: number;
  question: string;
  deadline: AbortSignal;
  log: (line: string) => void;
  /** The bench's own helper processes (the fake OpenAI server): counted as bench, not others. */
  benchHelperPids?: number[];
}): Promise<CapacityResult> {
  const helperPids = options.benchHelperPids ?? [];
  const helperSeconds = () => helperPids.reduce((sum, pid) => {
    const sample = sampleProcess(pid);
    return sum + sample.processSeconds + sample.childrenSeconds;
  }, 0);
  const { server, media, pump } = options;
  const sessions: LoadedSession[] = [];
  const steps: CapacityStep[] = [];
  let maxHeld = 0;
  let stopReason = 'every step held';
  await sleep(1500); // let the server settle (GC after the latency phase)
  const workers = options.workers ?? 1;
  const pidsOfServer = () => serverPids(server.pid, workers > 1);
  const baselineRss = sampleServer(pidsOfServer()).total.rssBytes;
  try {
    for (const target of options.steps) {
      if (options.deadline.aborted) {
        stopReason = 'the run hit --max-minutes';
        break;
      }
      const { opened, errors } = await openSessions(target - sessions.length, async () => {
        const bench = await BenchSession.open(server.baseUrl, pump, media.silencePacket);
        bench.mic.loopForever(media.questionPackets, sessions.length * 7);
        return bench;
      });
      for (const bench of opened) {
        const loaded = new LoadedSession(bench);
        sessions.push(loaded);
        void loaded.keepAsking(options.question);
      }
      // Settle: every session is playing its reply (or 15 s pass).
      const settleDeadline = performance.now() + 15_000;
      while (performance.now() < settleDeadline && !sessions.every((s) => s.speechEver)) await sleep(100);
      await sleep(1000);

      for (const s of sessions) s.resetWindow();
      pump.takeStats();
      const [metricsBefore, procBeforeTree, machineBefore, benchBefore] = [
        await server.metricsText(), sampleServer(pidsOfServer()), sampleMachine(), sampleProcess(process.pid),
      ];
      const helpersBefore = helperSeconds();
      const tableBefore = sampleProcessTable();
      const holdStartUs = Number(process.hrtime.bigint() / 1000n);
      await sleep(options.holdSeconds * 1000);
      const holdEndUs = Number(process.hrtime.bigint() / 1000n);
      const tableAfter = sampleProcessTable();
      const helpersAfter = helperSeconds();
      const [metricsAfter, procAfterTree, machineAfter, benchAfter] = [
        await server.metricsText(), sampleServer([...procBeforeTree.perProcess.keys()]), sampleMachine(), sampleProcess(process.pid),
      ];
      const pumpStats = pump.takeStats();
      const [procBefore, procAfter] = [procBeforeTree.total, procAfterTree.total];
      const busiestLoop = busiestMainThread(procBeforeTree, procAfterTree);

      const wallMs = procAfter.at - procBefore.at;
      const sent = metricValue(metricsAfter, 'assistant_rtp_packets_sent_total') - metricValue(metricsBefore, 'assistant_rtp_packets_sent_total');
      const late = metricValue(metricsAfter, 'assistant_rtp_packets_late_total') - metricValue(metricsBefore, 'assistant_rtp_packets_late_total');
      const processSeconds = procAfter.processSeconds - procBefore.processSeconds;
      const childrenSeconds = procAfter.childrenSeconds - procBefore.childrenSeconds;
      const connected = sessions.filter((s) => !s.bench.closed).length;
      const playing = sessions.filter((s) => s.speechPackets > 0).length;
      const lateness = sessions.flatMap((s) => s.lateness());
      const jitter = sessions.flatMap((s) => s.jitterValues);
      const step: CapacityStep = {
        workers,
        sessions: target,
        connected,
        playing,
        holdSeconds: round(wallMs / 1000),
        server: {
          packetsSent: sent,
          latePackets: late,
          lateFraction: sent > 0 ? round(late / sent, 5) : NaN,
          mainThreadCores: round(busiestLoop.cores, 3),
          processCores: round(coresUsed(processSeconds, procBefore.at, procAfter.at), 3),
          ffmpegCores: round(coresUsed(childrenSeconds, procBefore.at, procAfter.at), 3),
          mainThreadRunQueueShare: round(busiestLoop.runQueueShare, 4),
          cpuMsPerMediaSecondPerSession: round(((processSeconds + childrenSeconds) * 1000) / ((wallMs / 1000) * connected), 2),
          rssMb: round(procAfter.rssBytes / 2 ** 20, 1),
          rssPerSessionMb: round((procAfter.rssBytes - baselineRss) / 2 ** 20 / connected, 2),
          turnLatencyMs: roundedSummary(sessions.flatMap((s) => s.turnLatencies)),
        },
        client: {
          replyPackets: sessions.reduce((n, s) => n + s.replyPackets, 0),
          speechPackets: sessions.reduce((n, s) => n + s.speechPackets, 0),
          latenessMs: roundedSummary(lateness),
          interArrivalJitterMs: roundedSummary(jitter),
        },
        machineBusy: round(machineBusy(machineBefore, machineAfter), 3),
        // The bench process, its helpers (the fake OpenAI server) and their children.
        benchCores: round(coresUsed(benchAfter.processSeconds + benchAfter.childrenSeconds - benchBefore.processSeconds - benchBefore.childrenSeconds + helpersAfter - helpersBefore, procBefore.at, procAfter.at), 3),
        benchPumpLateP99Ms: round(summarise(pumpStats.lateMs).p99),
        holdMonotonicUs: [holdStartUs, holdEndUs],
        otherCores: 0,
        busiestOthers: busiestProcesses(tableBefore, tableAfter, new Set([...procAfterTree.perProcess.keys(), process.pid, ...helperPids])),
        ...kernelAndSteal(machineBefore, machineAfter, os.cpus().length),
        failures: [],
        warnings: [],
      };
      const cores = os.cpus().length;
      step.otherCores = round(Math.max(0, step.machineBusy * cores - step.server.processCores - step.server.ffmpegCores - step.benchCores), 2);
      const f = step.failures;
      if (errors.length > 0) f.push(`${errors.length} session(s) failed to connect: ${errors[0]}`);
      if (connected < target) f.push(`only ${connected}/${target} sessions connected`);
      if (playing < LIMITS.playingShare * target) f.push(`only ${playing}/${target} sessions were playing a reply`);
      if (!(step.server.lateFraction <= LIMITS.lateFraction)) f.push(`server: ${(step.server.lateFraction * 100).toFixed(2)} % of reply packets > 5 ms late (p99 > 5 ms)`);
      if (step.server.mainThreadCores > LIMITS.mainThreadCores) f.push(`server main thread${workers > 1 ? ' (busiest worker)' : ''} at ${(step.server.mainThreadCores * 100).toFixed(0)} % of a core`);
      if (step.server.processCores + step.server.ffmpegCores > LIMITS.serverCores) f.push('server (with ffmpeg) uses both cores');
      if (step.stealCores >= 0.1) {
        step.warnings.push(`the hypervisor took ${step.stealCores} cores from this machine (steal): timers fire late whatever the server does`);
      }
      if (step.machineBusy > LIMITS.machineBusy) {
        step.warnings.push(`machine saturated (${(step.machineBusy * 100).toFixed(0)} % busy; other processes used ${step.otherCores} cores)`);
      }
      steps.push(step);
      options.log(
        `  ${workers > 1 ? `[${workers} workers] ` : ''}${String(target).padStart(3)} sessions: late ${(step.server.lateFraction * 100).toFixed(2)} %, client lateness p99 ${step.client.latenessMs.p99} ms, ` +
          `server main ${(step.server.mainThreadCores * 100).toFixed(0)} % (run-queue wait ${(step.server.mainThreadRunQueueShare * 100).toFixed(1)} %) / all ${((step.server.processCores + step.server.ffmpegCores) * 100).toFixed(0)} %, ` +
          `machine ${(step.machineBusy * 100).toFixed(0)} % (bench ${(step.benchCores * 100).toFixed(0)} %, others ${(step.otherCores * 100).toFixed(0)} %), RSS ${step.server.rssMb} MB` +
          (f.length ? `  ✗ ${f.join('; ')}` : '  ✓') + (step.warnings.length ? `  ! ${step.warnings.join('; ')}` : ''),
      );
      if (step.otherCores >= 0.2) {
        options.log(`      others: irq ${step.irqCores}, steal ${step.stealCores} cores; busiest other processes: ${step.busiestOthers.map((p) => `${p.comm} (pid ${p.pid}, parent ${p.ppid}) ${p.cores}`).join(', ') || 'none seen'}`);
      }
      if (f.length > 0) {
        stopReason = `at ${target} sessions: ${f.join('; ')}`;
        break;
      }
      maxHeld = target;
    }
  } finally {
    for (const s of sessions) s.stopped = true;
    await Promise.all(sessions.map((s) => s.bench.close()));
  }
  return { workers, steps, maxHeld, stopReason, baselineRssMb: round(baselineRss / 2 ** 20, 1) };
}
