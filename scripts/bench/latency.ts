/**
 * Latency phase: one client holds "Space" over real WebRTC while a spoken question plays, lets go,
 * and times the reply. Server-added latency = (release → first reply speech packet) minus the
 * model time on the critical path as the fake OpenAI server saw it (STT whole answer + chat until
 * the first sentence is complete + TTS first byte). Durations are taken within one clock each:
 * the bench's (client), the fake's (its own process) or the server's (its turn timeline), never
 * across: the fake's records are fetched after each turn, and only its own spans are used.
 *
 * With the offline engine there is no remote model: model time is 0 and everything from release
 * to the first reply packet is the server's, including its local pocketsphinx and flite + ffmpeg
 * processes. Its long spoken reply is cancelled once the first packet arrives, to keep turns short.
 */
import type { FakeOpenAIProcess, RequestTiming } from '../../test/fake-openai/process.js';
import type { TimelineEntry } from '../../server/protocol.js';
import { BenchSession, isSilence } from './bench-session.js';
import type { BenchMedia, MediaPump } from './media-pump.js';
import { roundedSummary, sleep, waitUntil, type Summary } from './stats.js';
import { wordMatch, type WordMatch } from './word-match.js';

export interface ModelTime {
  sttMs: number;
  /** Chat request received → the chunk that completes the first sentence written. */
  chatMs: number;
  ttsFirstByteMs: number;
  totalMs: number;
}

export interface LatencyTurn {
  index: number;
  error?: string;
  /** Bench clock: talk:stop emitted → first non-silence reply RTP packet arrived. */
  clientReleaseToSpeechMs?: number;
  /** Server clock: release received → first speech RTP packet sent. */
  serverReleaseToRtpMs?: number;
  model?: ModelTime;
  serverAddedClientMs?: number;
  serverAddedServerMs?: number;
  jpegMs?: number;
  /** Server clock: STT sent → transcript (pocketsphinx run, or the fake's STT call). */
  transcriptMs?: number;
  oggToRtpMs?: number;
  /** Offline engine: what pocketsphinx heard (turn:user) and how well it matches the question. */
  heard?: string;
  wordMatch?: WordMatch;
  /** Server-side overheads around each model call (server-clock span − fake-clock span). */
  overheads?: Record<string, number>;
  timeline?: TimelineEntry[];
}

export interface LatencyResult {
  engine: 'openai' | 'offline';
  question: string;
  turns: LatencyTurn[];
  failedTurns: number;
  serverAddedClient: Summary;
  serverAddedServer: Summary;
  clientReleaseToSpeech: Summary;
  jpeg: Summary;
  transcript: Summary;
  oggToRtp: Summary;
  /** Offline engine: question words found in the transcripts, over all turns. */
  words?: { matched: number; total: number; wordErrorRate: number; exactTurns: number; transcripts: Record<string, number> };
  model: Summary;
  overheads: Record<string, Summary>;
  stages: Record<string, Summary>;
  benchPump: { skippedTicks: number; lateP99Ms: number };
}

/** Index (in the fake's chunk list: role chunk, one chunk per word, stop chunk) of the chunk after which the splitter has the first sentence. */
export function firstSentenceChunkIndex(reply: string): number {
  const words = reply.match(/\s*\S+/g) ?? [];
  const endsSentence = (word: string) => /[.!?:…]["')\]]*$/.test(word.trim());
  const index = words.findIndex(endsSentence);
  // +1 for the role chunk; +1 more because a sentence end is certain only once the next word (its
  // leading space) arrives. A sentence that ends the reply completes with the stop chunk.
  return index === -1 ? words.length + 1 : Math.min(index + 2, words.length + 1);
}

export function modelTime(stt: RequestTiming, chat: RequestTiming, speech: RequestTiming, sentenceChunk: number): ModelTime {
  const sttMs = stt.lastByteAt! - stt.receivedAt;
  const gap = chat.chunksSent > 1 ? (chat.lastByteAt! - chat.firstByteAt!) / (chat.chunksSent - 1) : 0;
  const chatMs = chat.firstByteAt! + Math.min(sentenceChunk, chat.chunksSent - 1) * gap - chat.receivedAt;
  const ttsFirstByteMs = speech.firstByteAt! - speech.receivedAt;
  return { sttMs, chatMs, ttsFirstByteMs, totalMs: sttMs + chatMs + ttsFirstByteMs };
}

function markAt(timeline: readonly TimelineEntry[], mark: string): number | undefined {
  return timeline.find((entry) => entry.mark === mark)?.atMs;
}

const NO_MODEL: ModelTime = { sttMs: 0, chatMs: 0, ttsFirstByteMs: 0, totalMs: 0 };

export async function runLatency(options: {
  baseUrl: string;
  /** The fake OpenAI API the server talks to; undefined with the offline engine. */
  fake: Pick<FakeOpenAIProcess, 'takeRequests'> | undefined;
  media: BenchMedia;
  pump: MediaPump;
  turns: number;
  question: string;
  reply: string;
  deadline: AbortSignal;
  log: (line: string) => void;
}): Promise<LatencyResult> {
  const { fake, media, pump } = options;
  const engine = fake ? 'openai' : 'offline';
  const sentenceChunk = firstSentenceChunkIndex(options.reply);
  const session = await BenchSession.open(options.baseUrl, pump, media.silencePacket);
  const results: LatencyTurn[] = [];
  try {
    await sleep(1000); // a keyframe and some frames reach the server
    pump.takeStats();
    for (let index = 0; index < options.turns && !options.deadline.aborted; index++) {
      const turn = await oneTurn(session, index);
      results.push(turn);
      if ((index + 1) % 10 === 0 || turn.error || (!fake && (index + 1) % 5 === 0)) {
        const heard = turn.heard === undefined ? '' : `, heard "${turn.heard}"`;
        options.log(`  turn ${index + 1}/${options.turns}${turn.error ? ` failed: ${turn.error}` : `: server-added ${turn.serverAddedClientMs?.toFixed(1)} ms${heard}`}`);
      }
      await sleep(250);
    }
  } finally {
    await session.close();
  }

  async function oneTurn(s: BenchSession, index: number): Promise<LatencyTurn> {
    s.clearTurnEnds();
    if (fake) await fake.takeRequests(); // forget the previous turn's requests
    let releasedAt: number | undefined;
    let firstSpeechAt: number | undefined;
    s.onReplyPacket = (rtp, at) => {
      if (releasedAt !== undefined && firstSpeechAt === undefined && at > releasedAt && !isSilence(rtp)) {
        firstSpeechAt = at;
        if (!fake) s.cancel(); // the offline reply runs ~15 s; its first packet is all we time
      }
    };
    s.talkStart();
    s.mic.say(media.questionPackets, () => {
      releasedAt = performance.now();
      s.talkStop();
    });
    const holdMs = media.questionPackets.length * 20;
    if ((await waitUntil(() => releasedAt, holdMs + 3000)) === undefined) return { index, error: 'the mic never finished' };
    const end = await s.nextTurnEnd(30_000);
    if (!end) return { index, error: 'no turn:done within 30 s' };
    if (end.kind !== 'done') return { index, error: `${end.kind}: ${end.message}` };
    const heard = s.userTexts.at(-1)?.text;
    if (end.cancelled && (fake || firstSpeechAt === undefined)) return { index, error: 'turn was cancelled', timeline: end.timeline };
    if (firstSpeechAt === undefined) return { index, error: 'no reply speech packet arrived', timeline: end.timeline };
    const measured = fake ? modelTimeOfTurn(await fake.takeRequests()) : NO_MODEL;
    if (typeof measured === 'string') return { index, error: measured, timeline: end.timeline };
    return turnFigures(index, releasedAt!, firstSpeechAt, measured, end.timeline, heard);
  }

  /** The model time the fake saw during the turn (its requests since the turn began), or why it cannot be told. */
  function modelTimeOfTurn(requests: readonly RequestTiming[]): ModelTime | string {
    const first = (endpoint: RequestTiming['endpoint']) =>
      requests.filter((r) => r.endpoint === endpoint).sort((a, b) => a.receivedAt - b.receivedAt)[0];
    const [stt, chat, speech] = [first('transcriptions'), first('chat'), first('speech')];
    if (!stt?.lastByteAt || !chat?.firstByteAt || !speech?.firstByteAt) return 'the fake did not see all three model calls';
    return modelTime(stt, chat, speech, sentenceChunk);
  }

  function turnFigures(index: number, releasedAt: number, firstSpeechAt: number, model: ModelTime, timeline: TimelineEntry[], heard: string | undefined): LatencyTurn {
    const t = (mark: string) => markAt(timeline, mark);
    const clientReleaseToSpeechMs = firstSpeechAt - releasedAt;
    const serverReleaseToRtpMs = t('firstRtp');
    const span = (from: string, to: string) => {
      const [a, b] = [t(from), t(to)];
      return a === undefined || b === undefined ? NaN : b - a;
    };
    const offline = !fake;
    const overheads: Record<string, number> = {
      'release → STT sent': t('sttSent') ?? NaN,
      [offline ? 'STT: pocketsphinx run (local process)' : 'STT call overhead']: span('sttSent', 'transcript') - model.sttMs,
      'transcript → chat sent': span('transcript', 'chatSent'),
      [offline ? 'chat → first sentence (offline compose + 15 ms/word)' : 'chat call overhead']: span('chatSent', 'firstSentence') - model.chatMs,
      'first sentence → TTS sent': span('firstSentence', 'ttsSent'),
      [offline ? 'TTS → first Ogg page (flite + ffmpeg, local)' : 'TTS call overhead']: span('ttsSent', 'firstOggPage') - model.ttsFirstByteMs,
      'first Ogg bytes → RTP sent': span('firstOggPage', 'firstRtp'),
      'network + client (talk:stop in, RTP out)': serverReleaseToRtpMs === undefined ? NaN : clientReleaseToSpeechMs - serverReleaseToRtpMs,
    };
    return {
      index,
      clientReleaseToSpeechMs,
      serverReleaseToRtpMs,
      model,
      serverAddedClientMs: clientReleaseToSpeechMs - model.totalMs,
      serverAddedServerMs: serverReleaseToRtpMs === undefined ? undefined : serverReleaseToRtpMs - model.totalMs,
      jpegMs: t('jpegReady'),
      transcriptMs: span('sttSent', 'transcript'),
      oggToRtpMs: span('firstOggPage', 'firstRtp'),
      overheads,
      timeline,
      ...(offline ? { heard: heard ?? '', wordMatch: wordMatch(options.question, heard ?? '') } : {}),
    };
  }

  const ok = results.filter((r) => !r.error);
  const pick = (f: (r: LatencyTurn) => number | undefined) => ok.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const overheadNames = Object.keys(ok[0]?.overheads ?? {});
  const stageNames = [...new Set(ok.flatMap((r) => (r.timeline ?? []).map((e) => e.mark)))];
  const pumpStats = pump.takeStats();
  const matches = ok.flatMap((r) => (r.wordMatch ? [r.wordMatch] : []));
  const transcripts: Record<string, number> = {};
  for (const r of ok) if (r.heard !== undefined) transcripts[r.heard] = (transcripts[r.heard] ?? 0) + 1;
  const sum = (f: (m: WordMatch) => number) => matches.reduce((n, m) => n + f(m), 0);
  return {
    engine,
    question: options.question,
    turns: results,
    failedTurns: results.length - ok.length,
    serverAddedClient: roundedSummary(pick((r) => r.serverAddedClientMs)),
    serverAddedServer: roundedSummary(pick((r) => r.serverAddedServerMs)),
    clientReleaseToSpeech: roundedSummary(pick((r) => r.clientReleaseToSpeechMs)),
    jpeg: roundedSummary(pick((r) => r.jpegMs)),
    transcript: roundedSummary(pick((r) => r.transcriptMs)),
    oggToRtp: roundedSummary(pick((r) => r.oggToRtpMs)),
    model: roundedSummary(pick((r) => r.model?.totalMs)),
    overheads: Object.fromEntries(overheadNames.map((name) => [name, roundedSummary(pick((r) => r.overheads?.[name]))])),
    ...(matches.length > 0
      ? {
          words: {
            matched: sum((m) => m.matched),
            total: sum((m) => m.total),
            wordErrorRate: Math.round((sum((m) => m.wordErrorRate * m.total) / Math.max(1, sum((m) => m.total))) * 1000) / 1000,
            exactTurns: matches.filter((m) => m.wordErrorRate === 0).length,
            transcripts,
          },
        }
      : {}),
    stages: Object.fromEntries(stageNames.map((mark) => [mark, roundedSummary(pick((r) => markAt(r.timeline ?? [], mark)))])),
    benchPump: {
      skippedTicks: pumpStats.skippedTicks,
      lateP99Ms: roundedSummary(pumpStats.lateMs).p99,
    },
  };
}
