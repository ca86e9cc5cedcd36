/**
 * `npm run bench -- --stt-streaming`: streamed speech-to-text (STT_STREAMING=on, the fake's Realtime
 * transcription WebSocket) against one upload after release (STT_STREAMING=off), in the same run:
 * two servers against one fake OpenAI process, turns alternating between them, each asked with
 * two release timings (right after the question, and after a pause of 0.8 s, long enough for the
 * streamed session to commit while Space is still held). Figures per cell: release → transcript
 * (server timeline, and client: talk:stop → turn:user) and release → first reply sound (client:
 * talk:stop → first reply speech RTP packet).
 */
import type { FakeOpenAIProcess, RealtimeCommitTiming, RequestTiming } from '../../test/fake-openai/process.js';
import { BenchSession, isSilence } from './bench-session.js';
import type { BenchMedia, MediaPump } from './media-pump.js';
import { roundedSummary, sleep, waitUntil, type Summary } from './stats.js';

export type SttMode = 'streaming' | 'upload';

export interface SttCell {
  mode: SttMode;
  /** Silence after the question before the release, ms (on top of the clip's own 250 ms). */
  tailMs: number;
  failedTurns: number;
  errors: string[];
  releaseToTranscriptServer: Summary;
  releaseToTranscriptClient: Summary;
  releaseToFirstSound: Summary;
  /** What the fake spent: upload = body received → answer sent; streaming = release commit → completed sent. */
  fakeSttMs: Summary;
  fellBackToUpload: number;
}

export interface SttStreamingResult {
  turnsPerCell: number;
  cells: SttCell[];
}

interface Turn {
  transcriptServerMs?: number;
  transcriptClientMs?: number;
  firstSoundMs?: number;
  fakeSttMs?: number;
  fellBack?: boolean;
  error?: string;
}

export async function runSttStreaming(options: {
  servers: Record<SttMode, string>;
  fake: FakeOpenAIProcess;
  media: BenchMedia;
  pump: MediaPump;
  turns: number;
  deadline: AbortSignal;
  log: (line: string) => void;
}): Promise<SttStreamingResult> {
  const { fake, media, pump } = options;
  const tails = [0, 800];
  const sessions: Record<SttMode, BenchSession> = {
    streaming: await BenchSession.open(options.servers.streaming, pump, media.silencePacket),
    upload: await BenchSession.open(options.servers.upload, pump, media.silencePacket),
  };
  const results = new Map<string, Turn[]>();
  const key = (mode: SttMode, tailMs: number) => `${mode}:${tailMs}`;
  try {
    await sleep(1000); // keyframes and a few frames reach both servers
    for (let index = 0; index < options.turns && !options.deadline.aborted; index++) {
      for (const tailMs of tails) {
        // Alternate which mode goes first, so neither always runs right after the other.
        const order: SttMode[] = index % 2 === 0 ? ['streaming', 'upload'] : ['upload', 'streaming'];
        for (const mode of order) {
          const turn = await oneTurn(sessions[mode], mode, tailMs);
          const list = results.get(key(mode, tailMs)) ?? [];
          list.push(turn);
          results.set(key(mode, tailMs), list);
          if (turn.error) options.log(`  ${mode}, tail ${tailMs} ms, turn ${index + 1}: ${turn.error}`);
          await sleep(300);
        }
      }
      if ((index + 1) % 5 === 0) options.log(`  ${index + 1}/${options.turns} turns per cell`);
    }
  } finally {
    await Promise.all(Object.values(sessions).map((session) => session.close()));
  }

  async function oneTurn(session: BenchSession, mode: SttMode, tailMs: number): Promise<Turn> {
    session.clearTurnEnds();
    await fake.takeRequests();
    await fake.takeRealtimeCommits();
    let releasedAt: number | undefined;
    let firstSoundAt: number | undefined;
    session.onReplyPacket = (rtp, at) => {
      if (releasedAt !== undefined && firstSoundAt === undefined && at > releasedAt && !isSilence(rtp)) firstSoundAt = at;
    };
    const tail = Array.from({ length: Math.round(tailMs / 20) }, () => media.silencePacket);
    session.talkStart();
    session.mic.say([...media.questionPackets, ...tail], () => {
      releasedAt = performance.now();
      session.talkStop();
    });
    if ((await waitUntil(() => releasedAt, (media.questionPackets.length + tail.length) * 20 + 3000)) === undefined) return { error: 'the mic never finished' };
    const end = await session.nextTurnEnd(30_000);
    if (!end) return { error: 'no turn:done within 30 s' };
    if (end.kind !== 'done') return { error: `${end.kind}: ${end.message}` };
    await waitUntil(() => firstSoundAt, 2000);
    const user = session.userTexts.at(-1);
    const transcriptServerMs = end.timeline.find((entry) => entry.mark === 'transcript')?.atMs;
    const fellBack = end.timeline.some((entry) => entry.mark === 'sttFallback');
    const [requests, commits] = [await fake.takeRequests(), await fake.takeRealtimeCommits()];
    return {
      transcriptServerMs,
      transcriptClientMs: user ? user.at - releasedAt! : undefined,
      firstSoundMs: firstSoundAt === undefined ? undefined : firstSoundAt - releasedAt!,
      fakeSttMs: mode === 'upload' ? uploadMs(requests) : streamedMs(commits),
      fellBack,
    };
  }

  const cells: SttCell[] = [];
  for (const tailMs of tails) {
    for (const mode of ['streaming', 'upload'] as const) {
      const turns = results.get(key(mode, tailMs)) ?? [];
      const ok = turns.filter((turn) => !turn.error);
      const pick = (f: (turn: Turn) => number | undefined) => ok.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
      cells.push({
        mode,
        tailMs,
        failedTurns: turns.length - ok.length,
        errors: turns.flatMap((turn) => (turn.error ? [turn.error] : [])).slice(0, 5),
        releaseToTranscriptServer: roundedSummary(pick((t) => t.transcriptServerMs)),
        releaseToTranscriptClient: roundedSummary(pick((t) => t.transcriptClientMs)),
        releaseToFirstSound: roundedSummary(pick((t) => t.firstSoundMs)),
        fakeSttMs: roundedSummary(pick((t) => t.fakeSttMs)),
        fellBackToUpload: ok.filter((turn) => turn.fellBack).length,
      });
    }
  }
  return { turnsPerCell: options.turns, cells };
}

function uploadMs(requests: readonly RequestTiming[]): number | undefined {
  const upload = requests.find((request) => request.endpoint === 'transcriptions');
  return upload?.lastByteAt === undefined ? undefined : upload.lastByteAt - upload.receivedAt;
}

/** The last commit of the turn (the one sent at release, or the pause's when nothing was left). */
function streamedMs(commits: readonly RealtimeCommitTiming[]): number | undefined {
  const answered = commits.filter((commit) => commit.completedAt !== undefined);
  const last = answered.at(-1);
  return last ? last.completedAt! - last.receivedAt : undefined;
}

export function formatSttStreaming(result: SttStreamingResult, sttDelayMs: number): string {
  const rows = result.cells.map((cell) => {
    const f = (s: Summary) => `${s.p50.toFixed(0).padStart(6)} ${s.p90.toFixed(0).padStart(6)}`;
    return `${cell.mode.padEnd(10)} ${String(cell.tailMs).padStart(5)} ms  ${f(cell.releaseToTranscriptServer)}  ${f(cell.releaseToTranscriptClient)}  ${f(cell.releaseToFirstSound)}  ${f(cell.fakeSttMs)}  ${String(cell.releaseToFirstSound.count).padStart(3)}/${cell.failedTurns} ${cell.fellBackToUpload}`;
  });
  const ratio = (tailMs: number, pick: (cell: SttCell) => Summary) => {
    const [s, u] = (['streaming', 'upload'] as const).map((mode) => result.cells.find((cell) => cell.mode === mode && cell.tailMs === tailMs)!);
    return `${(pick(s!).p50 / pick(u!).p50).toFixed(2)}`;
  };
  return [
    `STT streaming vs upload (${result.turnsPerCell} turns per cell, alternating; fake STT delay ${sttDelayMs} ms: upload = after the body arrives, streaming = after each commit)`,
    '                         release→transcript    release→transcript    release→first sound   fake STT time        ok/failed fallback',
    'mode       pause after      (server) p50 p90      (client) p50 p90      (client) p50 p90      p50    p90',
    ...rows,
    `median ratios streaming/upload: release→transcript ${ratio(0, (c) => c.releaseToTranscriptServer)} (no pause), ${ratio(800, (c) => c.releaseToTranscriptServer)} (0.8 s pause); ` +
      `release→first sound ${ratio(0, (c) => c.releaseToFirstSound)} / ${ratio(800, (c) => c.releaseToFirstSound)}`,
  ].join('\n');
}
