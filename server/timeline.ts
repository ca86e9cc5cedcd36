import { performance } from 'node:perf_hooks';

/** Milestones of one turn, in the order they usually happen. */
export const TURN_MARKS = [
  'userStopped',
  'release',
  'segmentReady',
  'commitSent',
  'sttSent',
  'sttFallback',
  'transcript',
  'jpegReady',
  'chatSent',
  'responseSent',
  'firstDelta',
  'firstSentence',
  'ttsSent',
  'firstOggPage',
  'firstAudioDelta',
  'firstRtp',
  'lastRtp',
  'cancel',
] as const;
export type TurnMark = (typeof TURN_MARKS)[number];

const LABELS: Record<TurnMark, string> = {
  userStopped: 'you stopped speaking',
  release: 'release',
  segmentReady: 'audio ready',
  commitSent: 'commit sent',
  sttSent: 'STT sent',
  sttFallback: 'STT stream failed',
  transcript: 'transcript',
  jpegReady: 'frame',
  chatSent: 'chat sent',
  responseSent: 'reply asked',
  firstDelta: 'first token',
  firstSentence: 'first sentence',
  ttsSent: 'TTS sent',
  firstOggPage: 'first speech byte',
  firstAudioDelta: 'first audio delta',
  firstRtp: 'first sound sent',
  lastRtp: 'last sound sent',
  cancel: 'cancelled',
};

/** A per-turn timeline on the monotonic clock; each mark is kept the first time it happens. */
export class TurnTimeline {
  private readonly startedAt: number;
  private readonly marks = new Map<TurnMark, number>();

  /** Ended by silence (hands-free): the release is the endpointer's decision. */
  private readonly endedBySilence: boolean;

  /**
   * `now`: when the turn ended (key release, or the hands-free decision). `userStoppedMsAgo`
   * (hands-free): how long before that the user stopped speaking — the endpointing delay.
   */
  constructor(now: number = performance.now(), opts: { userStoppedMsAgo?: number } = {}) {
    this.startedAt = now;
    this.marks.set('release', now);
    this.endedBySilence = opts.userStoppedMsAgo !== undefined;
    if (opts.userStoppedMsAgo !== undefined) this.marks.set('userStopped', now - opts.userStoppedMsAgo);
  }

  mark(name: TurnMark, now: number = performance.now()): void {
    if (!this.marks.has(name)) this.marks.set(name, now);
  }

  has(name: TurnMark): boolean {
    return this.marks.has(name);
  }

  /** ms since release, or undefined if the milestone was not reached. */
  sinceRelease(name: TurnMark): number | undefined {
    const at = this.marks.get(name);
    return at === undefined ? undefined : at - this.startedAt;
  }

  /** For the page and the log: ordered milestones with ms since release. */
  toJSON(): { mark: TurnMark; label: string; atMs: number }[] {
    return TURN_MARKS.filter((m) => this.marks.has(m)).map((mark) => ({
      mark,
      label: mark === 'release' && this.endedBySilence ? 'turn ended' : LABELS[mark],
      atMs: Math.round((this.marks.get(mark)! - this.startedAt) * 10) / 10,
    }));
  }
}
