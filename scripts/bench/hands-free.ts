/**
 * `npm run bench -- --hands-free`: hands-free turn-taking over real WebRTC against the fake OpenAI
 * API, in one run:
 *  - endpointing: the client speaks the question with no key; from the end of its own speech (the
 *    last voiced 20 ms packet it sent) to the first reply speech packet it receives, p50/p99;
 *    and the server's own view (its timeline: user stopped → turn ended → first sound);
 *  - barge-in: the question spoken again over a long reply; the server's decision → first
 *    silence packet (from its log), and, client side, the start of the interrupting speech → the
 *    last reply speech packet received;
 *  - CPU per call: N calls with a quiet mic, push-to-talk against hands-free (mic decoded and VAD
 *    run all the time), alternating phases on the same server; and, in this process, the listening
 *    path alone (RTP → Opus decode → Silero VAD) on the spoken question, per call per second of audio.
 */
import opus from '@discordjs/opus';
import { RtpHeader, RtpPacket } from 'werift';
import { VoiceListener } from '../../server/conversation/voice-listener.js';
import { SileroVadModel } from '../../server/media/silero-vad.js';
import type { FakeOpenAIProcess } from '../../test/fake-openai/process.js';
import { BenchSession, isSilence } from './bench-session.js';
import type { BenchMedia, MediaPump } from './media-pump.js';
import { sampleProcess } from './proc-stats.js';
import type { ServerProcess } from './processes.js';
import { roundedSummary, sleep, waitUntil, type Summary } from './stats.js';

export interface HandsFreeResult {
  turns: number;
  failedTurns: number;
  errors: string[];
  /** Client: end of its speech → first reply speech packet. */
  speechEndToFirstSound: Summary;
  /** Client: end of its speech → the server's `thinking` state arrives (the endpointing delay, with loopback transit). */
  speechEndToTurnEnded: Summary;
  /** Server timeline: turn ended → first sound sent. */
  serverTurnEndToFirstSound: Summary;
  bargeIns: number;
  /** Server: barge-in decision → first silence packet sent. */
  bargeInStopServerMs: Summary;
  /** Reply packets sent after a barge-in decision (0 = stopped in the next slot). */
  bargeInSpeechPacketsAfter: number[];
  /** Client: start of the interrupting speech → last reply speech packet received. */
  bargeInSpeechToSilenceClient: Summary;
  cpu: { calls: number; seconds: number; pushToTalkCoresPerCall: number[]; handsFreeCoresPerCall: number[] };
  /** In-process: RTP → decode → VAD on speech, share of one core per call. */
  listeningPathCoresPerCall: number;
}

/** The first voiced packet and the one just past the last (decoded RMS above -45 dBFS). */
function speechSpan(packets: readonly Buffer[]): { start: number; end: number } {
  const decoder = new opus.OpusEncoder(16_000, 1);
  let start = -1;
  let end = 0;
  packets.forEach((packet, index) => {
    const pcm = new Int16Array(decoder.decode(packet).buffer.slice(0));
    let sum = 0;
    for (const v of pcm) sum += v * v;
    if (10 * Math.log10(sum / pcm.length / 32768 ** 2 + 1e-12) > -45) {
      if (start < 0) start = index;
      end = index + 1;
    }
  });
  return { start: Math.max(0, start), end };
}

export async function runHandsFree(options: {
  server: ServerProcess;
  fake: FakeOpenAIProcess;
  media: BenchMedia;
  pump: MediaPump;
  turns: number;
  calls: number;
  reply: string;
  longReply: string;
  deadline: AbortSignal;
  log: (line: string) => void;
}): Promise<HandsFreeResult> {
  const { server, fake, media, pump, log } = options;
  const span = speechSpan(media.questionPackets);
  const spoken = media.questionPackets.slice(0, span.end);
  /** The question's leading silence, before its first voiced packet. */
  const leadInMs = span.start * 20;
  const errors: string[] = [];
  const clientMs: number[] = [];
  const endpointingMs: number[] = [];
  let thinkingAt: number | undefined;
  const turnEndToSoundMs: number[] = [];
  const bargeClientMs: number[] = [];
  const bargeServerMs: number[] = [];
  const bargeAfter: number[] = [];

  const session = await BenchSession.open(server.baseUrl, pump, media.silencePacket);
  let state = 'ready';
  session.socket.on('state', (p) => {
    state = p.state;
    if (p.state === 'thinking') thinkingAt = performance.now();
  });
  try {
    await session.setMode('hands-free');
    await sleep(1000);
    await fake.configure({ reply: options.reply });
    for (let i = 0; i < options.turns && !options.deadline.aborted; i++) {
      session.clearTurnEnds();
      thinkingAt = undefined;
      let speechEndAt: number | undefined;
      let firstSoundAt: number | undefined;
      session.onReplyPacket = (rtp, at) => {
        if (speechEndAt !== undefined && firstSoundAt === undefined && !isSilence(rtp)) firstSoundAt = at;
      };
      session.mic.say(spoken, () => {
        speechEndAt = performance.now();
      });
      const end = await session.nextTurnEnd(30_000);
      if (!end || end.kind !== 'done') {
        errors.push(end ? `${end.kind}: ${'message' in end ? end.message : ''}` : 'no turn:done within 30 s');
        continue;
      }
      await waitUntil(() => (state === 'ready' ? true : undefined), 15_000);
      const at = (mark: string) => end.timeline.find((entry) => entry.mark === mark)?.atMs;
      if (firstSoundAt !== undefined && speechEndAt !== undefined) clientMs.push(firstSoundAt - speechEndAt);
      if (thinkingAt !== undefined && speechEndAt !== undefined) endpointingMs.push(thinkingAt - speechEndAt);
      const sound = at('firstRtp');
      if (sound !== undefined) turnEndToSoundMs.push(sound);
      await sleep(300);
      if ((i + 1) % 5 === 0) log(`  ${i + 1}/${options.turns} hands-free turns`);
    }

    // Barge-in: the question again, one second into a long reply.
    await fake.configure({ reply: options.longReply });
    const bargeIns = Math.max(3, Math.round(options.turns / 2));
    for (let i = 0; i < bargeIns && !options.deadline.aborted; i++) {
      session.clearTurnEnds();
      let replyStartedAt: number | undefined;
      let interruptAt: number | undefined;
      let lastReplySoundAt: number | undefined;
      session.onReplyPacket = (rtp, at) => {
        if (isSilence(rtp)) return;
        replyStartedAt ??= at;
        lastReplySoundAt = at;
      };
      const logLinesBefore = server.recentOutput.length;
      session.mic.say(spoken, () => undefined);
      if ((await waitUntil(() => replyStartedAt, 20_000)) === undefined) {
        errors.push('barge-in: the reply never started');
        continue;
      }
      await sleep(1000);
      interruptAt = performance.now() + leadInMs; // when its first voiced packet goes out
      session.mic.say(spoken, () => undefined);
      const first = await session.nextTurnEnd(10_000);
      if (!first || first.kind !== 'done' || !first.cancelled) {
        errors.push(`barge-in: the reply was not interrupted (${first?.kind ?? 'nothing'})`);
        session.cancel();
        await waitUntil(() => (state === 'ready' ? true : undefined), 15_000);
        continue;
      }
      const interruptedAt = performance.now();
      await sleep(300); // packets still in flight
      if (lastReplySoundAt !== undefined && lastReplySoundAt <= interruptedAt + 300) bargeClientMs.push(lastReplySoundAt - interruptAt);
      const line = server.recentOutput.slice(Math.max(0, logLinesBefore - 5)).reverse().find((l) => l.includes('"bargeIn"'));
      const parsed = line ? /"stopMs":([\d.]+),"speechPacketsAfter":(\d+)/.exec(line) : null;
      if (parsed) {
        bargeServerMs.push(Number(parsed[1]));
        bargeAfter.push(Number(parsed[2]));
      }
      // The interrupting question is answered: once its reply sounds, stop it and wait for quiet.
      let answeredAt: number | undefined;
      session.onReplyPacket = (rtp, at) => {
        if (!isSilence(rtp) && at > interruptedAt + 300) answeredAt ??= at;
      };
      if ((await waitUntil(() => answeredAt, 20_000)) === undefined) errors.push('barge-in: the interrupting question got no spoken answer');
      session.cancel();
      await session.nextTurnEnd(5000);
      await waitUntil(() => (state === 'ready' ? true : undefined), 15_000);
      await sleep(500);
    }
  } finally {
    await session.close();
  }

  log(`  CPU: ${options.calls} calls with a quiet mic, push-to-talk and hands-free phases alternating…`);
  const cpu = await cpuPerCall(options.server, options.media, options.pump, options.calls, options.deadline);
  const listeningPathCoresPerCall = await listeningPathCost(spoken, options.calls);

  return {
    turns: options.turns,
    failedTurns: errors.length,
    errors: errors.slice(0, 8),
    speechEndToFirstSound: roundedSummary(clientMs),
    speechEndToTurnEnded: roundedSummary(endpointingMs),
    serverTurnEndToFirstSound: roundedSummary(turnEndToSoundMs),
    bargeIns: bargeServerMs.length,
    bargeInStopServerMs: roundedSummary(bargeServerMs),
    bargeInSpeechPacketsAfter: bargeAfter,
    bargeInSpeechToSilenceClient: roundedSummary(bargeClientMs),
    cpu,
    listeningPathCoresPerCall,
  };
}

const PHASE_SECONDS = 8;

async function cpuPerCall(server: ServerProcess, media: BenchMedia, pump: MediaPump, calls: number, deadline: AbortSignal): Promise<HandsFreeResult['cpu']> {
  const sessions = await Promise.all(Array.from({ length: calls }, () => BenchSession.open(server.baseUrl, pump, media.silencePacket)));
  const result: HandsFreeResult['cpu'] = { calls, seconds: PHASE_SECONDS, pushToTalkCoresPerCall: [], handsFreeCoresPerCall: [] };
  try {
    await sleep(2000);
    for (const mode of ['push-to-talk', 'hands-free', 'push-to-talk', 'hands-free'] as const) {
      if (deadline.aborted) break;
      await Promise.all(sessions.map((session) => session.setMode(mode)));
      await sleep(1000);
      const before = sampleProcess(server.pid);
      await sleep(PHASE_SECONDS * 1000);
      const after = sampleProcess(server.pid);
      const cores = (after.processSeconds - before.processSeconds) / ((after.at - before.at) / 1000);
      (mode === 'hands-free' ? result.handsFreeCoresPerCall : result.pushToTalkCoresPerCall).push(Math.round((cores / calls) * 10_000) / 10_000);
    }
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
  return result;
}

/** CPU of this process for `calls` listeners hearing `seconds` of the question each, per call per second of audio. */
async function listeningPathCost(spoken: readonly Buffer[], calls: number, seconds = 20): Promise<number> {
  await SileroVadModel.load();
  const listeners = Array.from({ length: calls }, () => new VoiceListener({ endpointing: { threshold: 0.5, startSpeechMs: 160, endSilenceMs: 640 }, onStep: () => undefined }));
  await Promise.all(listeners.map((listener) => listener.start()));
  const model = await SileroVadModel.load();
  const windowsBefore = model.windowsRun;
  const packets = (seconds * 1000) / 20;
  const start = process.cpuUsage();
  for (let n = 0; n < packets; n++) {
    for (const listener of listeners) {
      const header = new RtpHeader({ payloadType: 111, sequenceNumber: n & 0xffff, timestamp: (n * 960) >>> 0, ssrc: 1 });
      listener.pushRtp(new RtpPacket(header, spoken[n % spoken.length]!));
    }
    if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve)); // let batches run
  }
  const expectedWindows = Math.floor((packets * 320) / 512) * calls - calls * 4;
  await waitUntil(() => (model.windowsRun - windowsBefore >= expectedWindows ? true : undefined), 30_000, 5);
  const used = process.cpuUsage(start);
  for (const listener of listeners) listener.stop();
  return Math.round(((used.user + used.system) / 1e6 / (calls * seconds)) * 100_000) / 100_000;
}

export function formatHandsFree(result: HandsFreeResult, endSilenceMs: number): string {
  const f = (s: Summary) => `p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms (n=${s.count})`;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const ptt = mean(result.cpu.pushToTalkCoresPerCall);
  const hf = mean(result.cpu.handsFreeCoresPerCall);
  return [
    `Hands-free (${result.turns} turns; VAD_END_SILENCE_MS ${endSilenceMs}; failed ${result.failedTurns}${result.errors.length ? `: ${result.errors.join('; ')}` : ''})`,
    `  end of the client's speech → first reply sound (client):  ${f(result.speechEndToFirstSound)}`,
    `  end of the client's speech → turn ended ('thinking'):    ${f(result.speechEndToTurnEnded)}`,
    `  turn ended → first sound sent (server timeline):          ${f(result.serverTurnEndToFirstSound)}`,
    `  barge-in decision → first silence packet (server):        ${f(result.bargeInStopServerMs)}; reply packets after the decision: ${result.bargeInSpeechPacketsAfter.join(', ') || '—'}`,
    `  interrupting speech starts → last reply sound (client):   ${f(result.bargeInSpeechToSilenceClient)} (BARGE_IN_MS included)`,
    `  CPU per call, quiet mic, ${result.cpu.calls} calls, ${result.cpu.seconds} s phases: push-to-talk ${(ptt * 100).toFixed(2)} % of a core, hands-free ${(hf * 100).toFixed(2)} % (phases: ${result.cpu.pushToTalkCoresPerCall.join(', ')} / ${result.cpu.handsFreeCoresPerCall.join(', ')})`,
    `  listening path alone (RTP → Opus decode → Silero VAD, speech), in the bench process: ${(result.listeningPathCoresPerCall * 100).toFixed(2)} % of a core per call`,
  ].join('\n');
}
