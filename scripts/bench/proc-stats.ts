/**
 * CPU and memory of the server process from Linux /proc: total (all threads), the main thread
 * alone (the JavaScript event loop, which saturates at one core), and reaped children (ffmpeg).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcessCpuSample {
  /** performance.now() when read. */
  at: number;
  /** CPU seconds of every thread of the process. */
  processSeconds: number;
  /** CPU seconds of the main (event-loop) thread. */
  mainThreadSeconds: number;
  /** CPU seconds of children that have exited and been waited for (ffmpeg decodes). */
  childrenSeconds: number;
  /**
   * Seconds the main thread spent runnable but waiting for a CPU (schedstat): high when other
   * processes hold the cores, whatever the server itself does.
   */
  mainThreadRunQueueSeconds: number;
  rssBytes: number;
}

export interface MachineCpuSample {
  at: number;
  busyTicks: number;
  totalTicks: number;
  /** Kernel interrupt work (irq + softirq: loopback UDP lands here) and time the hypervisor gave to other guests (steal). */
  irqTicks: number;
  stealTicks: number;
}

/** utime+stime and cutime+cstime of a /proc/…/stat line, in seconds. */
function statTimes(path: string): { own: number; children: number } {
  const text = readFileSync(path, 'utf8');
  // Field 2 (comm) may hold spaces; everything after its closing parenthesis is space-separated.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const num = (field: number) => Number(fields[field - 3]);
  return {
    own: (num(14) + num(15)) / CLOCK_TICKS_PER_SECOND,
    children: (num(16) + num(17)) / CLOCK_TICKS_PER_SECOND,
  };
}

export function sampleProcess(pid: number): ProcessCpuSample {
  const at = performance.now();
  const whole = statTimes(`/proc/${pid}/stat`);
  const main = statTimes(`/proc/${pid}/task/${pid}/stat`);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const waitNs = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  return {
    at,
    processSeconds: whole.own,
    mainThreadSeconds: main.own,
    childrenSeconds: whole.children,
    mainThreadRunQueueSeconds: waitNs / 1e9,
    rssBytes: rssKb * 1024,
  };
}

export function sampleMachine(): MachineCpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
  const total = ticks.slice(0, 8).reduce((sum, v) => sum + v, 0); // guest time is already in user
  return { at: performance.now(), busyTicks: total - idle, totalTicks: total, irqTicks: (ticks[5] ?? 0) + (ticks[6] ?? 0), stealTicks: ticks[7] ?? 0 };
}

/** Share of one core (1.0 = a whole core) used between two samples. */
export function coresUsed(seconds: number, fromAtMs: number, toAtMs: number): number {
  return seconds / ((toAtMs - fromAtMs) / 1000);
}

/** Cores spent on interrupts and lost to steal between two samples. */
export function kernelAndSteal(from: MachineCpuSample, to: MachineCpuSample, cores: number): { irqCores: number; stealCores: number } {
  const total = to.totalTicks - from.totalTicks;
  const share = (ticks: number) => (total > 0 ? Math.round((ticks / total) * cores * 100) / 100 : 0);
  return { irqCores: share(to.irqTicks - from.irqTicks), stealCores: share(to.stealTicks - from.stealTicks) };
}

/** Busy share of all cores, 0..1. */
export function machineBusy(from: MachineCpuSample, to: MachineCpuSample): number {
  const total = to.totalTicks - from.totalTicks;
  return total > 0 ? (to.busyTicks - from.busyTicks) / total : 0;
}

export interface ProcessTableSample {
  at: number;
  /** pid → command name, parent pid, and CPU seconds (own, all threads) so far. */
  processes: Map<number, { comm: string; ppid: number; seconds: number }>;
}

/** CPU seconds of every process on the machine (from /proc), to tell who else used the cores. */
export function sampleProcessTable(): ProcessTableSample {
  const processes = new Map<number, { comm: string; ppid: number; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
      processes.set(Number(entry), { comm, ppid: Number(fields[1]), seconds });
    } catch {
      // exited while we read
    }
  }
  return { at: performance.now(), processes };
}

/**
 * The processes that used the most CPU between two samples (cores), naming each by command and
 * parent, leaving out `excludePids`. A process that started and ended between the samples is missed.
 */
export function busiestProcesses(from: ProcessTableSample, to: ProcessTableSample, excludePids: ReadonlySet<number>, count = 4): { pid: number; comm: string; ppid: number; cores: number }[] {
  const wallSeconds = (to.at - from.at) / 1000;
  const rows: { pid: number; comm: string; ppid: number; cores: number }[] = [];
  for (const [pid, now] of to.processes) {
    if (excludePids.has(pid)) continue;
    const used = now.seconds - (from.processes.get(pid)?.seconds ?? 0);
    if (used > 0) rows.push({ pid, comm: now.comm, ppid: now.ppid, cores: Math.round((used / wallSeconds) * 100) / 100 });
  }
  return rows.sort((a, b) => b.cores - a.cores).slice(0, count);
}

/** The server's processes: itself, and with WORKERS > 1 its cluster workers (its `node` children). */
export function serverPids(pid: number, clustered: boolean): number[] {
  if (!clustered) return [pid];
  const children: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
        if (child && readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'node') children.push(Number(child));
      }
    } catch {
      // a task or child that exited while we read
    }
  }
  return [pid, ...children];
}

export interface ServerCpuSample {
  /** Summed over the server's processes (main-thread figures: see perProcess). */
  total: ProcessCpuSample;
  perProcess: Map<number, ProcessCpuSample>;
}

export function sampleServer(pids: readonly number[]): ServerCpuSample {
  const perProcess = new Map<number, ProcessCpuSample>();
  for (const pid of pids) {
    try {
      perProcess.set(pid, sampleProcess(pid));
    } catch {
      // exited (a worker being restarted)
    }
  }
  const samples = [...perProcess.values()];
  const sum = (pick: (s: ProcessCpuSample) => number) => samples.reduce((n, s) => n + pick(s), 0);
  return {
    perProcess,
    total: {
      at: samples[0]?.at ?? performance.now(),
      processSeconds: sum((s) => s.processSeconds),
      mainThreadSeconds: sum((s) => s.mainThreadSeconds),
      childrenSeconds: sum((s) => s.childrenSeconds),
      mainThreadRunQueueSeconds: sum((s) => s.mainThreadRunQueueSeconds),
      rssBytes: sum((s) => s.rssBytes),
    },
  };
}

/** The busiest single event loop between two samples (cores), and its run-queue share. */
export function busiestMainThread(from: ServerCpuSample, to: ServerCpuSample): { cores: number; runQueueShare: number } {
  let cores = 0;
  let runQueueShare = 0;
  for (const [pid, after] of to.perProcess) {
    const before = from.perProcess.get(pid);
    if (!before) continue;
    const used = coresUsed(after.mainThreadSeconds - before.mainThreadSeconds, before.at, after.at);
    if (used > cores) {
      cores = used;
      runQueueShare = coresUsed(after.mainThreadRunQueueSeconds - before.mainThreadRunQueueSeconds, before.at, after.at);
    }
  }
  return { cores, runQueueShare };
}
