import type { RtpPacket } from 'werift';
import { MicPcmStream } from '../media/mic-pcm-stream.js';
import { SileroVadModel, type SileroVadStream, VAD_SAMPLE_RATE, VAD_WINDOW_MS } from '../media/silero-vad.js';
import { Endpointer, type EndpointerSettings, type EndpointStep } from './endpointer.js';

export interface VoiceListenerOptions {
  endpointing: EndpointerSettings;
  /** Every VAD window's endpointing step, in media order (~every 32 ms). */
  onStep(step: EndpointStep): void;
  onError?(error: unknown): void;
}

/**
 * The always-on ear of a hands-free call: mic RTP → in order → Opus decoded to 16 kHz → Silero
 * VAD (the process's shared model, this call's own state) → endpointer. Started and stopped with
 * hands-free mode; while stopped, `pushRtp` does nothing, so push-to-talk calls decode nothing
 * between turns.
 */
export class VoiceListener {
  private readonly pcm: MicPcmStream;
  private readonly endpointer: Endpointer;
  private vad?: SileroVadStream;
  private starting?: Promise<void>;
  private active = false;

  constructor(private readonly options: VoiceListenerOptions) {
    this.endpointer = new Endpointer(options.endpointing, VAD_WINDOW_MS);
    this.pcm = new MicPcmStream({ sampleRate: VAD_SAMPLE_RATE, onPcm: (pcm) => this.vad?.push(pcm) });
  }

  get listening(): boolean {
    return this.active;
  }

  /** Resolves once the model is loaded and audio is being heard. */
  start(): Promise<void> {
    this.active = true;
    this.starting ??= SileroVadModel.load().then(
      (model) => {
        if (!this.active) return;
        this.openStream(model);
      },
      (error: unknown) => {
        this.starting = undefined;
        this.active = false;
        this.options.onError?.(error);
      },
    );
    return this.starting;
  }

  private openStream(model: SileroVadModel): void {
    this.vad?.close();
    const vad = model.openStream((probability) => {
      if (this.vad === vad) this.options.onStep(this.endpointer.push(probability));
    });
    vad.onError = (error) => this.options.onError?.(error);
    this.vad = vad;
    this.endpointer.reset();
    this.pcm.start();
  }

  pushRtp(rtp: RtpPacket): void {
    if (this.vad) this.pcm.pushRtp(rtp);
  }

  stop(): void {
    this.active = false;
    this.starting = undefined;
    this.pcm.stop();
    this.vad?.close();
    this.vad = undefined;
    this.endpointer.reset();
  }
}
