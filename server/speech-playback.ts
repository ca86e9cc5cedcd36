/** One sentence's speech: its Opus packets arrive while it is requested. */
interface SpeechJob {
  sentence: string;
  packets: Buffer[];
  started: boolean;
  done: boolean;
  error?: unknown;
  wake?: () => void;
}

export interface SpeechPlaybackOptions {
  /** The speaker stage: Opus packets for one sentence, as they become ready. */
  speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer>;
  /** Where Opus packets go, in playing order (the paced RTP sender's queue). */
  play(opusPacket: Buffer): void;
  /** How many sentences after the one playing may be synthesised ahead. */
  lookahead: number;
  signal: AbortSignal;
  onSpeechRequested?(): void;
  onFirstSpeechBytes?(): void;
}

/**
 * Speaks sentences strictly in order while requesting the next few ahead, so sentence n+1 is
 * ready when sentence n ends. Packets are played as they arrive, never held back
 * for the end of a stream.
 */
export class SpeechPlayback {
  private readonly jobs: SpeechJob[] = [];
  private playingIndex = 0;
  private closed = false;
  private wakePlayer?: () => void;
  private readonly playedUpTo: number[] = [];
  private packetsQueued = 0;
  private firstBytesSeen = false;
  private readonly player: Promise<void>;

  constructor(private readonly options: SpeechPlaybackOptions) {
    this.player = this.playInOrder();
    // finish() reports a failure; this only stops an early one from counting as unhandled.
    this.player.catch(() => undefined);
    options.signal.addEventListener(
      'abort',
      () => {
        this.wakePlayer?.();
        for (const job of this.jobs) job.wake?.();
      },
      { once: true },
    );
  }

  /** Queues a sentence for speech. */
  add(sentence: string): void {
    if (this.closed) throw new Error('SpeechPlayback is closed');
    this.jobs.push({ sentence, packets: [], started: false, done: false });
    this.startAllowedJobs();
    this.wakePlayer?.();
  }

  /** No more sentences; resolves when every packet has been handed to `play`. */
  async finish(): Promise<void> {
    this.closed = true;
    this.wakePlayer?.();
    await this.player;
  }

  /** Packets handed to `play` so far. */
  get queuedPackets(): number {
    return this.packetsQueued;
  }

  /**
   * The sentences whose every packet is among the first `packetsPlayed` queued packets: what the
   * user actually heard when playback stopped there.
   */
  sentencesWithin(packetsPlayed: number): string[] {
    const heard: string[] = [];
    this.playedUpTo.forEach((endPacket, index) => {
      if (endPacket <= packetsPlayed) heard.push(this.jobs[index]!.sentence);
    });
    return heard;
  }

  private startAllowedJobs(): void {
    const limit = Math.min(this.jobs.length, this.playingIndex + 1 + this.options.lookahead);
    for (let i = this.playingIndex; i < limit; i++) {
      const job = this.jobs[i]!;
      if (!job.started) {
        job.started = true;
        void this.synthesise(job);
      }
    }
  }

  private async synthesise(job: SpeechJob): Promise<void> {
    const { signal } = this.options;
    try {
      this.options.onSpeechRequested?.();
      for await (const packet of this.options.speak(job.sentence, signal)) {
        this.noteFirstBytes();
        job.packets.push(packet);
        job.wake?.();
      }
    } catch (err) {
      job.error = err;
    } finally {
      job.done = true;
      job.wake?.();
    }
  }

  private noteFirstBytes(): void {
    if (this.firstBytesSeen) return;
    this.firstBytesSeen = true;
    this.options.onFirstSpeechBytes?.();
  }

  private async playInOrder(): Promise<void> {
    const { signal } = this.options;
    while (!signal.aborted) {
      const job = this.jobs[this.playingIndex];
      if (!job) {
        if (this.closed) return;
        await new Promise<void>((resolve) => (this.wakePlayer = resolve));
        continue;
      }
      let read = 0;
      while (!signal.aborted) {
        while (read < job.packets.length) {
          this.options.play(job.packets[read++]!);
          this.packetsQueued++;
        }
        if (job.done) break;
        await new Promise<void>((resolve) => (job.wake = resolve));
      }
      if (signal.aborted) return; // cut short: neither heard in full nor followed by another
      job.packets.length = 0; // played: free the memory
      if (job.error !== undefined && !signal.aborted) throw job.error;
      this.playedUpTo.push(this.packetsQueued);
      this.playingIndex++;
      this.startAllowedJobs();
    }
  }
}
