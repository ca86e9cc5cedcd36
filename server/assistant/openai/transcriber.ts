/**
 * The speech-to-text stage through the `openai` package: one upload of the segment as a WAV after
 * release, or (STT_STREAMING) a Realtime transcription session fed while the user talks.
 */
import { toFile } from 'openai';
import type { Settings } from '../../config.js';
import { encodeWav } from '../../media/wav.js';
import type { StageSettings } from '../../stage-settings.js';
import type { LiveTranscriber, MicSegment, Transcriber } from '../engine.js';
import { OpenAIStageClient, type OpenAIClientSettings, throwIfAborted, untilAborted } from './client.js';
import { RealtimeTranscriber } from './realtime-transcription.js';

export type OpenAITranscriberSettings = OpenAIClientSettings & Pick<Settings, 'STT_MODEL'>;

export class OpenAITranscriber implements Transcriber {
  readonly provider = 'openai' as const;
  readonly api: OpenAIStageClient;

  constructor(
    private readonly stage: StageSettings,
    private readonly settings: OpenAITranscriberSettings,
    /** Whether `openLive` streams (STT_STREAMING resolved). */
    private readonly streaming: boolean,
  ) {
    this.api = new OpenAIStageClient(stage, settings);
  }

  prewarm(): void {
    this.api.prewarm();
  }

  async transcribe(segment: MicSegment, signal: AbortSignal): Promise<string> {
    const context = this.api.context('transcription', this.settings.STT_MODEL, 'STT_MODEL');
    throwIfAborted(signal);
    try {
      const file = await toFile(encodeWav(segment), 'speech.wav', { type: 'audio/wav' });
      const request = this.api.client.audio.transcriptions.create({ file, model: context.model }, { signal });
      const result = await untilAborted(request, signal);
      return result.text.trim();
    } catch (error) {
      throw this.api.failure(error, signal, false, context);
    }
  }

  openLive(): LiveTranscriber | undefined {
    if (!this.streaming) return undefined;
    return new RealtimeTranscriber({
      baseURL: this.api.baseURL,
      apiKey: this.stage.apiKey,
      model: this.settings.STT_MODEL,
      timeoutMs: this.settings.MODEL_TIMEOUT_MS,
    });
  }
}
