/**
 * `npm run bench`: drives the real server (a child process) through real WebRTC from werift client
 * peers, against the fake OpenAI API with fixed model delays (or, with `--engine offline`, the
 * server's own pocketsphinx/flite engine), and reports speed and capacity beside their targets.
 * Everything runs on loopback and stops by itself (--max-minutes).
 * Flags: see `npm run bench -- --help` (scripts/bench/options.ts).
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCapacity, type CapacityResult } from './bench/capacity.js';
import { runLatency, type LatencyResult } from './bench/latency.js';
import { formatSttStreaming, runSttStreaming, type SttStreamingResult } from './bench/stt-streaming.js';
import { formatHandsFree, runHandsFree, type HandsFreeResult } from './bench/hands-free.js';
import { formatRealtimeBench, runRealtimeBench, type RealtimeBenchResult } from './bench/realtime.js';
import { MediaPump, prepareMedia } from './bench/media-pump.js';
import { parseBenchOptions } from './bench/options.js';
import { machineBusy, sampleMachine, sampleProcess } from './bench/proc-stats.js';
import { prewarmSpeech, REPO_ROOT, startBenchFake, startServer, type ServerProcess } from './bench/processes.js';
import { formatOverheads, formatSteps, formatTargets, formatWorkerComparison, TARGETS, targetChecks } from './bench/report.js';
import type { FakeOpenAIProcess } from '../test/fake-openai/process.js';

const QUESTION = 'what colour is this';
/** Spoken to the offline engine: flite's voice that pocketsphinx recognises well (see DESIGN.md). */
const OFFLINE_QUESTION = 'please tell me what colour you can see';
const LATENCY_REPLY = 'It looks blue to me.';
/** Long enough (~25 s of speech) that capacity sessions play a reply nearly all the time. */
const CAPACITY_REPLY = [
  'The picture is mostly blue with a fine grain of noise across it.',
  'There is no text or face that I can make out anywhere in the frame.',
  'The colour looks even from the top left corner to the bottom right.',
  'If you move the camera a little I can describe the new view for you.',
  'Lighting seems steady, so the colours you see should be close to real.',
  'A blue like this often comes from a wall, a sheet of paper, or a screen.',
  'I can also read labels or signs if you hold them closer to the lens.',
  'Ask me again whenever you want another look at what is in front of you.',
].join(' ');

const log = (line: string) => console.log(line);
/** Busy cores (of other processes) below which the machine counts as quiet. */
const QUIET_CORES = 0.3;

/** Samples the machine's busy cores every 2 s until they drop below QUIET_CORES or `maxSeconds` pass. */
async function waitForQuietMachine(maxSeconds: number): Promise<number> {
  const deadline = performance.now() + maxSeconds * 1000;
  for (let announced = false; ; ) {
    const before = sampleMachine();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const busyCores = Math.round(machineBusy(before, sampleMachine()) * os.cpus().length * 100) / 100;
    if (busyCores <= QUIET_CORES || performance.now() >= deadline) return busyCores;
    if (!announced) log(`other processes keep ${busyCores} cores busy: waiting up to ${maxSeconds} s for a quiet spell…`);
    announced = true;
  }
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv.slice(2));
  const startedAt = Date.now();
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => deadline.abort(), options.maxMinutes * 60_000);
  deadlineTimer.unref();

  log(`bench: ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}, node ${process.version}`);
  const offline = options.engine === 'offline';
  const speechToSpeech = options.engine === 'realtime';
  const question = offline ? OFFLINE_QUESTION : QUESTION;
  if (offline) log('engine: offline (the server runs pocketsphinx for STT and flite + ffmpeg for TTS; model time 0)');
  else {
    log(`model delays (fake OpenAI): STT ${options.sttDelayMs} ms, chat first token ${options.chatDelayMs} ms` +
      ` (+${options.chatTokenGapMs} ms/word), TTS first byte ${options.ttsDelayMs} ms` +
      (speechToSpeech ? `; realtime first audio ${options.realtimeDelayMs} ms` : ''));
  }
  log(`preparing media (flite "${question}" → Opus, 640x480 VP8 clip)…`);
  const media = await prepareMedia(question);
  // Other people's processes on this machine skew every figure: wait a while for a quiet spell.
  const otherLoadCores = await waitForQuietMachine(options.quietWaitSeconds);
  log(`machine load from other processes before the run: ${otherLoadCores} cores${otherLoadCores > QUIET_CORES ? '  (! figures will be skewed)' : ''}`);
  let latencyMachineCores: number | undefined;
  let latencyRunQueueShare: number | undefined;

  let fake: FakeOpenAIProcess | undefined;
  let server: ServerProcess | undefined;
  const pump = new MediaPump(media.videoFrames);
  let latency: LatencyResult | undefined;
  /** The first ramp (the targets are checked on it) and every ramp, one per --workers value. */
  let capacity: CapacityResult | undefined;
  const capacityByWorkers: CapacityResult[] = [];
  let sttStreaming: SttStreamingResult | undefined;
  let handsFree: HandsFreeResult | undefined;
  let realtime: RealtimeBenchResult | undefined;
  let cascadeServer: ServerProcess | undefined;
  let uploadServer: ServerProcess | undefined;
  let failure: string | undefined;
  const stopAll = async () => {
    pump.stop();
    await server?.stop().catch(() => undefined);
    await uploadServer?.stop().catch(() => undefined);
    await cascadeServer?.stop().catch(() => undefined);
    await fake?.close().catch(() => undefined);
  };
  const onSignal = () => {
    log('\ninterrupted: stopping the server');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    if (!offline) {
      fake = await startBenchFake(options, QUESTION, LATENCY_REPLY);
      await prewarmSpeech(fake, [LATENCY_REPLY, CAPACITY_REPLY]);
    }
    if (options.sttStreaming && !fake) throw new Error('--stt-streaming needs the openai engine (the fake OpenAI API)');
    if (speechToSpeech && fake) await fake.setBehaviour('realtime', { firstByteDelayMs: options.realtimeDelayMs });
    const engine: Parameters<typeof startServer>[0] = fake ? { kind: speechToSpeech ? 'realtime' : 'openai', fakeBaseURL: fake.baseURL } : { kind: 'offline' };
    const serverRun = (workers: number) => ({
      cpuProfDir: options.cpuProfDir,
      nodeFlags: options.serverNodeFlags,
      outputFile: options.serverOutput,
      workers,
      env: {
        ...(options.sttStreaming ? { STT_STREAMING: 'on' } : {}),
        // Info: the barge-in lines carry the server's stop time.
        ...(options.handsFree ? { LOG_LEVEL: 'info' } : {}),
      },
    });
    server = await startServer(engine, serverRun(options.workers[0]!));
    log(`server pid ${server.pid} on ${server.baseUrl} (WORKERS=${server.workers})${options.sttStreaming ? ' (STT_STREAMING=on)' : ''}`);

    if (options.sttStreaming && fake) {
      uploadServer = await startServer({ kind: 'openai', fakeBaseURL: fake.baseURL }, { env: { STT_STREAMING: 'off' } });
      log(`server pid ${uploadServer.pid} on ${uploadServer.baseUrl} (STT_STREAMING=off)`);
      log(`stt streaming: ${options.turns} turns per cell (streaming/upload × release right after / 0.8 s after the question)…`);
      sttStreaming = await runSttStreaming({
        servers: { streaming: server.baseUrl, upload: uploadServer.baseUrl },
        fake, media, pump, turns: options.turns, deadline: deadline.signal, log,
      });
    }
    if (options.handsFree) {
      if (!fake) throw new Error('--hands-free needs the openai engine (the fake OpenAI API)');
      log(`hands-free: ${options.turns} turns, barge-ins, then CPU with ${options.handsFreeCalls} calls…`);
      handsFree = await runHandsFree({
        server, fake, media, pump, turns: options.turns, calls: options.handsFreeCalls, reply: LATENCY_REPLY, longReply: CAPACITY_REPLY,
        deadline: deadline.signal, log,
      });
    }
    if (speechToSpeech && fake) {
      cascadeServer = await startServer({ kind: 'openai', fakeBaseURL: fake.baseURL });
      log(`server pid ${cascadeServer.pid} on ${cascadeServer.baseUrl} (cascade engine, for comparison)`);
      log(`realtime vs cascade: ${options.turns} turns per engine, alternating…`);
      realtime = await runRealtimeBench({
        servers: { realtime: server.baseUrl, cascade: cascadeServer.baseUrl },
        fake, media, pump, turns: options.turns, reply: LATENCY_REPLY, realtimeDelayMs: options.realtimeDelayMs, deadline: deadline.signal, log,
      });
    }
    if (!options.skipLatency && !options.sttStreaming && !options.handsFree && !speechToSpeech) {
      log(`latency: ${options.turns} spoken turns over WebRTC…`);
      const [before, serverBefore] = [sampleMachine(), sampleProcess(server.pid)];
      latency = await runLatency({ baseUrl: server.baseUrl, fake, media, pump, turns: options.turns, question, reply: LATENCY_REPLY, deadline: deadline.signal, log });
      latencyMachineCores = Math.round(machineBusy(before, sampleMachine()) * os.cpus().length * 100) / 100;
      const serverAfter = sampleProcess(server.pid);
      latencyRunQueueShare = Math.round(((serverAfter.mainThreadRunQueueSeconds - serverBefore.mainThreadRunQueueSeconds) * 1000 * 1000) / (serverAfter.at - serverBefore.at)) / 1000;
    }
    if (!options.skipCapacity && !options.sttStreaming && !options.handsFree && !speechToSpeech && !deadline.signal.aborted) {
      await fake?.configure({ reply: CAPACITY_REPLY });
      // The client peers stand in for browsers on other machines. On this shared box the bench's
      // main thread (where they all run) yields the CPU to the server under test: nice 10. The
      // server (spawned earlier) keeps its priority; on Linux this changes this thread only.
      os.setPriority(10);
      for (const workers of options.workers) {
        if (deadline.signal.aborted) break;
        if (server.workers !== workers) {
          await server.stop();
          server = await startServer(engine, serverRun(workers));
          log(`server pid ${server.pid} on ${server.baseUrl} (WORKERS=${workers})`);
        }
        log(`capacity, WORKERS=${workers}: steps ${options.steps.join(', ')} sessions, ${options.holdSeconds} s each (bench at nice 10)…`);
        const ramp = await runCapacity({
          server, workers, media, pump, steps: options.steps, holdSeconds: options.holdSeconds, question, deadline: deadline.signal, log,
          benchHelperPids: fake ? [fake.pid] : [],
        });
        capacityByWorkers.push(ramp);
        capacity ??= ramp;
      }
    }
  } catch (err) {
    failure = err instanceof Error ? err.stack ?? err.message : String(err);
    console.error(`bench failed: ${failure}`);
    if (server) console.error(`last server output:\n${server.recentOutput.slice(-20).join('\n')}`);
  } finally {
    clearTimeout(deadlineTimer);
    await stopAll();
  }

  const checks = targetChecks(latency, capacity);
  log('');
  if (realtime) {
    log(formatRealtimeBench(realtime, `fake: realtime first audio ${options.realtimeDelayMs} ms; cascade STT ${options.sttDelayMs} / chat ${options.chatDelayMs} / TTS ${options.ttsDelayMs} ms`));
  } else if (sttStreaming) log(formatSttStreaming(sttStreaming, options.sttDelayMs));
  else if (handsFree) log(formatHandsFree(handsFree, 640 /* the default; this bench does not change it */));
  else log(formatTargets(checks));
  if (latency) log(`\n${formatOverheads(latency)}\n(latency phase: machine busy ${latencyMachineCores} of ${os.cpus().length} cores; server main thread waited for a CPU ${((latencyRunQueueShare ?? 0) * 100).toFixed(1)} % of the time)`);
  for (const ramp of capacityByWorkers) log(`\nWORKERS=${ramp.workers}\n${formatSteps(ramp.steps)}\ncapacity stopped: ${ramp.stopReason}`);
  if (capacityByWorkers.length > 1) log(`\n${formatWorkerComparison(capacityByWorkers)}`);
  log('\nNote: the bench\'s werift client peers run on the same 2-core machine as the server (the "bench" column is its CPU);');
  log('client-observed figures include the bench\'s own event-loop delays.');

  const report = {
    startedAt: new Date(startedAt).toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      otherLoadCoresBeforeRun: otherLoadCores,
      busyCoresDuringLatency: latencyMachineCores,
      serverMainThreadRunQueueShareDuringLatency: latencyRunQueueShare,
    },
    options,
    targets: TARGETS,
    checks,
    latency: latency && { ...latency, turns: latency.turns },
    capacity,
    capacityByWorkers,
    sttStreaming,
    handsFree,
    realtime,
    serverOutputTail: server?.recentOutput.slice(-30),
    failure,
  };
  const outPath = path.resolve(REPO_ROOT, options.out);
  await writeFile(outPath, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nJSON report: ${outPath}  (${report.durationSeconds} s)`);
  process.exit(failure ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
