import type { RtpPacket } from 'werift';
import { LIVE_SAMPLE_RATE, type LiveTranscriber, type LiveTurn } from './assistant/engine.js';
import { MicPcmStream } from './media/mic-pcm-stream.js';

export interface LiveTranscriptOptions {
  transcriber: LiveTranscriber;
  /** The question so far, while Space is held ('' drops what was shown). */
  onPartial(text: string): void;
  onError(error: unknown): void;
}

/**
 * Streamed transcription for one browser session (STT_STREAMING): while Space is held the mic is
 * decoded at 24 kHz and appended to the provider's live turn; the turn goes to the Turn at release.
 */
export class LiveTranscript {
  private readonly mic: MicPcmStream;
  private turn?: LiveTurn;

  constructor(private readonly options: LiveTranscriptOptions) {
    this.mic = new MicPcmStream({ sampleRate: LIVE_SAMPLE_RATE, onPcm: (pcm) => this.turn?.append(pcm) });
  }

  start(): void {
    this.turn?.discard();
    try {
      this.turn = this.options.transcriber.begin((text) => this.options.onPartial(text));
    } catch (error) {
      this.turn = undefined;
      this.options.onError(error); // the turn will be uploaded as before
      return;
    }
    this.mic.start();
  }

  pushRtp(rtp: RtpPacket): void {
    if (this.turn) this.mic.pushRtp(rtp);
  }

  /** Release: the live turn, for the Turn to finish (or discard). */
  stop(): LiveTurn | undefined {
    this.mic.stop();
    const turn = this.turn;
    this.turn = undefined;
    return turn;
  }

  /** Listening stopped without a turn (a typed question, a closed call). */
  drop(): void {
    this.stop()?.discard();
  }

  close(): void {
    this.drop();
    this.options.transcriber.close();
  }
}
