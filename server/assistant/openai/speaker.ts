/**
 * The text-to-speech stage through the `openai` package: `POST /audio/speech` streamed, in the
 * format TTS_FORMAT asks for. Ogg-Opus is only demuxed; WAV, PCM and MP3 are decoded, resampled
 * to 48 kHz and encoded to Opus here as they arrive (server/media/speech-transcoder.ts).
 */
import { APIError } from 'openai';
import type { Settings } from '../../config.js';
import { type SpeechFormat, SpeechFormatError, speechToOpus } from '../../media/speech-transcoder.js';
import type { StageSettings } from '../../stage-settings.js';
import { EngineError, type Speaker } from '../engine.js';
import { OpenAIStageClient, type OpenAIClientSettings, StreamGuard, throwIfAborted, untilAborted } from './client.js';
import { streamCutError } from './errors.js';

export type OpenAISpeakerSettings = OpenAIClientSettings & Pick<Settings, 'TTS_MODEL' | 'TTS_VOICE' | 'TTS_INSTRUCTIONS' | 'TTS_FORMAT'>;

/** Content types that plainly say "not the format asked for" (servers that ignore response_format). */
const CONTENT_TYPES: Record<SpeechFormat, RegExp> = {
  opus: /ogg|opus/i,
  wav: /wav|wave/i,
  mp3: /mpeg|mp3/i,
  pcm: /pcm|l16|octet-stream|raw/i,
};
const AUDIO_TYPE = /^audio\//i;

export class OpenAISpeaker implements Speaker {
  readonly provider = 'openai' as const;
  readonly api: OpenAIStageClient;

  constructor(
    stage: StageSettings,
    private readonly settings: OpenAISpeakerSettings,
  ) {
    this.api = new OpenAIStageClient(stage, settings);
  }

  prewarm(): void {
    this.api.prewarm();
  }

  async *speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer> {
    const context = this.api.context('speech', this.settings.TTS_MODEL, 'TTS_MODEL');
    const format = this.settings.TTS_FORMAT;
    throwIfAborted(signal);
    const guard = new StreamGuard(signal, this.settings.MODEL_TIMEOUT_MS);
    let streaming = false;
    let receivedBytes = 0;
    let sourceError: unknown;
    try {
      const instructions = this.settings.TTS_INSTRUCTIONS;
      const request = this.api.client.audio.speech.create(
        {
          model: context.model,
          voice: this.settings.TTS_VOICE,
          input: sentence,
          response_format: format,
          ...(instructions ? { instructions } : {}),
        },
        { signal: guard.signal },
      );
      const response = await untilAborted(request, signal);
      streaming = true;
      const contentType = response.headers.get('content-type') ?? '';
      if (AUDIO_TYPE.test(contentType) && !CONTENT_TYPES[format].test(contentType)) {
        throw new SpeechFormatError(`it sent ${contentType.split(';')[0]} instead`);
      }
      if (!response.body) throw streamCutError(context);
      const reader = response.body.getReader();
      const bytes = async function* (): AsyncGenerator<Buffer> {
        try {
          for (let next = await guard.next(reader.read()); !next.done; next = await guard.next(reader.read())) {
            receivedBytes += next.value.byteLength;
            yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
          }
        } catch (error) {
          sourceError = error;
          throw error;
        }
      };
      try {
        yield* speechToOpus(bytes(), format);
      } finally {
        reader.releaseLock();
      }
    } catch (error) {
      if (error instanceof SpeechFormatError && sourceError === undefined && !signal.aborted) {
        throw new EngineError(
          'bad_request',
          `The voice server at ${context.host} did not send TTS_FORMAT=${format} audio (${error.message}). Set TTS_FORMAT to a format it serves: opus, wav, pcm or mp3.`,
          { cause: error },
        );
      }
      if (isFormatRefusal(error)) {
        throw new EngineError(
          'bad_request',
          `The voice server at ${context.host} refused TTS_FORMAT=${format} (${error.status}${refusalReason(error)}). Set TTS_FORMAT to a format it serves: opus, wav, pcm or mp3.`,
          { cause: error },
        );
      }
      throw this.api.failure(sourceError ?? error, signal, streaming, context, guard);
    } finally {
      guard.close();
    }
    if (receivedBytes === 0) throw streamCutError(context);
  }
}

/** The server's own words, clipped (e.g. "Supported values are: 'opus', 'mp3'"). */
function refusalReason(error: APIError): string {
  const message = (error.error as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'string' || !message.trim()) return '';
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return `: ${oneLine.length > 140 ? `${oneLine.slice(0, 139)}…` : oneLine}`;
}

/** A 4xx answer about the response format (OpenAI: 400 with `param: "response_format"`). */
function isFormatRefusal(error: unknown): error is APIError & { status: number } {
  if (!(error instanceof APIError) || error.status === undefined || error.status < 400 || error.status >= 500) return false;
  if ([401, 403, 404, 429].includes(error.status)) return false;
  const body = error.error as { param?: unknown; message?: unknown } | undefined;
  return body?.param === 'response_format' || /format/i.test(typeof body?.message === 'string' ? body.message : error.message);
}
