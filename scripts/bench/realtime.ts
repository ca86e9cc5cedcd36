/**
 * `npm run bench -- --engine realtime`: the speech-to-speech engine (ASSISTANT_ENGINE=realtime,
 * the fake's GA Realtime session) beside the cascade engine (STT → chat → TTS on the same fake),
 * in the same run: two servers, turns alternating between them, the same spoken question.
 *
 * Figure per engine: release → first reply speech RTP at the client, minus the model time the
 * fake spent on the critical path, each span on the fake's own clock:
 * - realtime: `response.create` received → first `response.output_audio.delta` sent (the fake's
 *   first-audio delay, `--realtime-ms`, plus composing the reply);
 * - cascade: STT answer + chat until its first sentence + TTS first byte (as the latency phase).
 */
import type { FakeOpenAIProcess, RealtimeResponseTiming } from '../../test/fake-openai/process.js';
import { BenchSession, isSilence } from './bench-session.js';
import { modelTime, firstSentenceChunkIndex } from './latency.js';
import type { BenchMedia, MediaPump } from './media-pump.js';
import { roundedSummary, sleep, waitUntil, type Summary } from './stats.js';

export type EngineUnderTest = 'realtime' | 'cascade';

export interface RealtimeCell {
  engine: EngineUnderTest;
  failedTurns: number;
  errors: string[];
  releaseToFirstSound: Summary;
  modelTime: Summary;
  serverAdded: Summary;
  /** Server timeline: release → commit sent / first audio delta (realtime), release → first RTP. */
  stages: Record<string, Summary>;
}

export interface RealtimeBenchResult {
  turnsPerEngine: number;
  realtimeDelayMs: number;
  cells: RealtimeCell[];
}

interface Turn {
  firstSoundMs?: number;
  modelMs?: number;
  timeline?: Array<{ mark: string; atMs: number }>;
  error?: string;
}

export async function runRealtimeBench(options: {
  servers: Record<EngineUnderTest, string>;
  fake: FakeOpenAIProcess;
  media: BenchMedia;
  pump: MediaPump;
  turns: number;
  reply: string;
  realtimeDelayMs: number;
  deadline: AbortSignal;
  log: (line: string) => void;
}): Promise<RealtimeBenchResult> {
  const { fake, media, pump } = options;
  const sentenceChunk = firstSentenceChunkIndex(options.reply);
  const sessions: Record<EngineUnderTest, BenchSession> = {
    realtime: await BenchSession.open(options.servers.realtime, pump, media.silencePacket),
    cascade: await BenchSession.open(options.servers.cascade, pump, media.silencePacket),
  };
  const results: Record<EngineUnderTest, Turn[]> = { realtime: [], cascade: [] };
  try {
    await sleep(1000); // keyframes and a few frames reach both servers
    for (let index = 0; index < options.turns && !options.deadline.aborted; index++) {
      const order: EngineUnderTest[] = index % 2 === 0 ? ['realtime', 'cascade'] : ['cascade', 'realtime'];
      for (const engine of order) {
        const turn = await oneTurn(sessions[engine], engine);
        results[engine].push(turn);
        if (turn.error) options.log(`  ${engine}, turn ${index + 1}: ${turn.error}`);
        await sleep(250);
      }
      if ((index + 1) % 10 === 0) options.log(`  ${index + 1}/${options.turns} turns per engine`);
    }
  } finally {
    await Promise.all(Object.values(sessions).map((session) => session.close()));
  }

  async function oneTurn(session: BenchSession, engine: EngineUnderTest): Promise<Turn> {
    session.clearTurnEnds();
    await Promise.all([fake.takeRequests(), fake.takeRealtimeResponses()]);
    let releasedAt: number | undefined;
    let firstSoundAt: number | undefined;
    session.onReplyPacket = (rtp, at) => {
      if (releasedAt !== undefined && firstSoundAt === undefined && at > releasedAt && !isSilence(rtp)) firstSoundAt = at;
    };
    session.talkStart();
    session.mic.say(media.questionPackets, () => {
      releasedAt = performance.now();
      session.talkStop();
    });
    if ((await waitUntil(() => releasedAt, media.questionPackets.length * 20 + 3000)) === undefined) return { error: 'the mic never finished' };
    const end = await session.nextTurnEnd(30_000);
    if (!end) return { error: 'no turn:done within 30 s' };
    if (end.kind !== 'done') return { error: `${end.kind}: ${end.message}` };
    if (firstSoundAt === undefined) return { error: 'no reply speech packet arrived' };
    const modelMs = engine === 'realtime' ? realtimeModelMs(await fake.takeRealtimeResponses()) : cascadeModelMs(await fake.takeRequests());
    if (typeof modelMs === 'string') return { error: modelMs };
    return { firstSoundMs: firstSoundAt - releasedAt!, modelMs, timeline: end.timeline };
  }

  function realtimeModelMs(responses: readonly RealtimeResponseTiming[]): number | string {
    const [response] = responses;
    if (!response?.firstAudioAt) return 'the fake sent no reply audio';
    return response.firstAudioAt - response.requestedAt;
  }

  function cascadeModelMs(requests: Awaited<ReturnType<FakeOpenAIProcess['takeRequests']>>): number | string {
    const first = (endpoint: string) => requests.filter((r) => r.endpoint === endpoint).sort((a, b) => a.receivedAt - b.receivedAt)[0];
    const [stt, chat, speech] = [first('transcriptions'), first('chat'), first('speech')];
    if (!stt?.lastByteAt || !chat?.firstByteAt || !speech?.firstByteAt) return 'the fake did not see all three model calls';
    return modelTime(stt, chat, speech, sentenceChunk).totalMs;
  }

  const cells = (['realtime', 'cascade'] as const).map((engine): RealtimeCell => {
    const turns = results[engine];
    const ok = turns.filter((turn) => !turn.error);
    const pick = (f: (turn: Turn) => number | undefined) => ok.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const marks = [...new Set(ok.flatMap((turn) => (turn.timeline ?? []).map((entry) => entry.mark)))];
    return {
      engine,
      failedTurns: turns.length - ok.length,
      errors: turns.flatMap((turn) => (turn.error ? [turn.error] : [])).slice(0, 5),
      releaseToFirstSound: roundedSummary(pick((t) => t.firstSoundMs)),
      modelTime: roundedSummary(pick((t) => t.modelMs)),
      serverAdded: roundedSummary(pick((t) => (t.firstSoundMs ?? NaN) - (t.modelMs ?? NaN))),
      stages: Object.fromEntries(marks.map((mark) => [mark, roundedSummary(pick((t) => t.timeline?.find((entry) => entry.mark === mark)?.atMs))])),
    };
  });
  return { turnsPerEngine: options.turns, realtimeDelayMs: options.realtimeDelayMs, cells };
}

export function formatRealtimeBench(result: RealtimeBenchResult, delays: string): string {
  const f = (s: Summary) => `${s.p50.toFixed(0).padStart(6)} ${s.p99.toFixed(0).padStart(6)}`;
  const rows = result.cells.map((cell) => `${cell.engine.padEnd(9)} ${f(cell.releaseToFirstSound)}     ${f(cell.modelTime)}     ${f(cell.serverAdded)}    ${String(cell.releaseToFirstSound.count).padStart(3)}/${cell.failedTurns}`);
  const [realtime, cascade] = result.cells;
  const stageLine = (cell: RealtimeCell) =>
    Object.entries(cell.stages)
      .filter(([mark]) => mark !== 'release')
      .map(([mark, s]) => `${mark} ${s.p50.toFixed(0)}`)
      .join(', ');
  return [
    `Speech-to-speech vs cascade (${result.turnsPerEngine} turns each, alternating; ${delays})`,
    '          release→first sound    model time (fake)    server-added          ok/failed',
    'engine       p50    p99            p50    p99           p50    p99',
    ...rows,
    `median ratio realtime/cascade: release→first sound ${(realtime!.releaseToFirstSound.p50 / cascade!.releaseToFirstSound.p50).toFixed(2)}, server-added ${(realtime!.serverAdded.p50 / cascade!.serverAdded.p50).toFixed(2)}`,
    `server timeline p50 (ms since release) — realtime: ${stageLine(realtime!)}`,
    `                                       — cascade: ${stageLine(cascade!)}`,
  ].join('\n');
}
