/**
 * Top self-time functions of a V8 .cpuprofile (as written by `npm run bench -- --cpu-prof DIR`),
 * optionally cut to a time window such as a capacity step's hold (`holdMonotonicUs` in the bench's
 * JSON report: the profile's timestamps are on the same monotonic clock), and the share of each
 * origin: werift, the project's server/ code, other packages, Node's own code, GC, idle.
 *
 *   npx tsx scripts/bench/profile-summary.ts FILE.cpuprofile [--report bench.json --step 10] [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  name: string;
  where: string;
  origin: string;
  ms: number;
  share: number;
}

/** Which code a frame belongs to, by the file it comes from. */
export function originOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native / builtin)';
  if (url.includes('/node_modules/werift')) return 'werift';
  if (url.includes('/server/')) return 'server/ (ours)';
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return 'other';
}

/** Self time per function (ms) within [fromUs, toUs] on the profile's clock. */
export function selfTimes(profile: CpuProfile, fromUs = -Infinity, toUs = Infinity): { rows: SelfTimeRow[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { name: string; where: string; origin: string; us: number }>();
  let at = profile.startTime;
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample's time is the gap to the next sample.
    const durationUs = Math.max(0, profile.timeDeltas[i + 1] ?? 0);
    if (at < fromUs || at > toUs) continue;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/(server|scripts|test)\//, '$1/');
    const where = url ? `${file}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = selfUs.get(key) ?? { name: functionName || '(anonymous)', where, origin: originOf(url, functionName), us: 0 };
    entry.us += durationUs;
    selfUs.set(key, entry);
    totalUs += durationUs;
  }
  const rows = [...selfUs.values()]
    .map((e) => ({ name: e.name, where: e.where, origin: e.origin, ms: e.us / 1000, share: totalUs > 0 ? e.us / totalUs : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { rows, totalMs: totalUs / 1000 };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { report: { type: 'string' }, step: { type: 'string' }, top: { type: 'string', default: '25' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--report bench.json --step N] [--top N]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  let window: [number, number] = [-Infinity, Infinity];
  if (values.report) {
    const report = JSON.parse(readFileSync(values.report, 'utf8')) as { capacity?: { steps: { sessions: number; holdMonotonicUs?: [number, number] }[] } };
    const step = report.capacity?.steps.find((s) => String(s.sessions) === (values.step ?? String(s.sessions)));
    if (!step?.holdMonotonicUs) throw new Error('the report has no such capacity step with a hold window');
    window = step.holdMonotonicUs;
  }
  const { rows, totalMs } = selfTimes(profile, ...window);
  const idle = rows.filter((r) => r.origin === '(idle)').reduce((n, r) => n + r.ms, 0);
  const busy = totalMs - idle;
  console.log(`profile window ${(totalMs / 1000).toFixed(1)} s; main thread busy ${(busy / 1000).toFixed(2)} s (${((busy / totalMs) * 100).toFixed(1)} %)`);
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)} %`;
  console.log(`\ntop self time (share of busy time):`);
  for (const r of rows.filter((r) => r.origin !== '(idle)').slice(0, Number(values.top))) {
    console.log(`${r.ms.toFixed(0).padStart(7)} ms  ${pct(r.ms).padStart(7)}  ${r.name}  ${r.where}  [${r.origin}]`);
  }
  const origins = new Map<string, number>();
  for (const r of rows) if (r.origin !== '(idle)') origins.set(r.origin, (origins.get(r.origin) ?? 0) + r.ms);
  console.log(`\nself time by origin (share of busy time):`);
  for (const [origin, ms] of [...origins].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${ms.toFixed(0).padStart(7)} ms  ${pct(ms).padStart(7)}  ${origin}`);
}

main();
