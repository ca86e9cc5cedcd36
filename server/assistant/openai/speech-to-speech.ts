/** The speech-to-speech engine (ASSISTANT_ENGINE=realtime): one Realtime conversation per call. */
import type { Settings } from '../../config.js';
import type { RealtimeSettings } from '../../realtime-settings.js';
import type { SpeechToSpeech, SpeechToSpeechCall } from '../engine.js';
import { RealtimeConversation, type RealtimeConversationOptions } from './realtime-conversation.js';

export class OpenAISpeechToSpeech implements SpeechToSpeech {
  private readonly options: RealtimeConversationOptions;

  constructor(
    endpoint: RealtimeSettings,
    settings: Pick<Settings, 'REALTIME_MODEL' | 'REALTIME_VOICE' | 'REALTIME_MAX_IMAGES' | 'SYSTEM_PROMPT' | 'STT_MODEL' | 'IMAGE_DETAIL' | 'MODEL_TIMEOUT_MS'>,
    private readonly onConnection?: RealtimeConversationOptions['onConnection'],
  ) {
    this.options = {
      url: endpoint.url,
      headers: endpoint.headers,
      keySetting: endpoint.keySetting,
      serverSetting: endpoint.serverSetting,
      host: endpoint.host,
      model: settings.REALTIME_MODEL,
      instructions: settings.SYSTEM_PROMPT,
      voice: settings.REALTIME_VOICE,
      transcriptionModel: settings.STT_MODEL,
      imageDetail: settings.IMAGE_DETAIL,
      maxImages: settings.REALTIME_MAX_IMAGES,
      openTimeoutMs: settings.MODEL_TIMEOUT_MS,
    };
  }

  openCall(onConnection = this.onConnection): SpeechToSpeechCall {
    return new RealtimeConversation({ ...this.options, ...(onConnection ? { onConnection } : {}) });
  }
}
