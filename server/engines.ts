/**
 * The assistant's three stages, each from the provider the settings name (DESIGN.md "Stages and
 * providers"): speech-to-text, chat and text-to-speech, offline or OpenAI-compatible, mixed freely.
 */
import type { AssistantEngine, ChatModel, Speaker, Transcriber } from './assistant/engine.js';
import { OfflineChatModel } from './assistant/offline/chat-model.js';
import { OfflineSpeaker } from './assistant/offline/speaker.js';
import { OfflineTranscriber } from './assistant/offline/transcriber.js';
import { OpenAIChatModel } from './assistant/openai/chat-model.js';
import { OpenAISpeaker } from './assistant/openai/speaker.js';
import { OpenAITranscriber } from './assistant/openai/transcriber.js';
import { OpenAISpeechToSpeech } from './assistant/openai/speech-to-speech.js';
import type { Settings } from './config.js';
import type { StageDescriptions } from './protocol.js';
import { StreamResampler } from './media/resampler.js';
import { OPUS_RATE } from './media/opus-frame-encoder.js';
import { PCM_SAMPLE_RATE } from './media/speech-transcoder.js';
import { engineName, STAGE_WORDS, type StageName } from './stage-settings.js';

export const OFFLINE_NOTE =
  'Offline engine: it hears you with pocketsphinx and can only describe colours and brightness. ' +
  'Set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) and restart for a real vision assistant.';

export function createEngine(settings: Settings): { engine: AssistantEngine; note?: string; stages: StageDescriptions } {
  if (settings.realtime) return createSpeechToSpeechEngine(settings, settings.realtime);
  const { stages } = settings;
  const transcriber: Transcriber =
    stages.stt.provider === 'openai' ? new OpenAITranscriber(stages.stt, settings, stages.sttStreaming) : new OfflineTranscriber();
  const chatModel: ChatModel = stages.chat.provider === 'openai' ? new OpenAIChatModel(stages.chat, settings) : new OfflineChatModel();
  const speaker: Speaker = stages.tts.provider === 'openai' ? new OpenAISpeaker(stages.tts, settings) : new OfflineSpeaker();
  const engine: AssistantEngine = {
    name: engineName(stages),
    transcriber,
    chatModel,
    speaker,
    prewarm() {
      transcriber.prewarm?.();
      chatModel.prewarm?.();
      speaker.prewarm?.();
    },
  };
  const description: StageDescriptions = {
    stt: {
      provider: stages.stt.provider,
      host: stages.stt.host,
      ...(stages.stt.provider === 'openai' ? { model: settings.STT_MODEL, streaming: stages.sttStreaming } : {}),
    },
    chat: { provider: stages.chat.provider, host: stages.chat.host, ...(stages.chat.provider === 'openai' ? { model: settings.CHAT_MODEL } : {}) },
    tts: {
      provider: stages.tts.provider,
      host: stages.tts.host,
      ...(stages.tts.provider === 'openai' ? { model: settings.TTS_MODEL, format: settings.TTS_FORMAT } : {}),
    },
  };
  return { engine, stages: description, ...(stages.chat.provider === 'offline' ? { note: OFFLINE_NOTE } : {}) };
}

/**
 * ASSISTANT_ENGINE=realtime: turns go to the Realtime model, which hears, sees and speaks. The three
 * stages are the offline ones, never asked (typed questions go to the model too); they only make
 * the engine whole, and prewarm nothing: the call's socket is its warm connection.
 */
function createSpeechToSpeechEngine(settings: Settings, endpoint: NonNullable<Settings['realtime']>) {
  const engine: AssistantEngine = {
    name: 'realtime',
    speechToSpeech: new OpenAISpeechToSpeech(endpoint, settings),
    transcriber: new OfflineTranscriber(),
    chatModel: new OfflineChatModel(),
    speaker: new OfflineSpeaker(),
    prewarm() {},
  };
  const model = { provider: 'openai' as const, host: endpoint.host, model: settings.REALTIME_MODEL };
  const note = `Speech-to-speech: ${settings.REALTIME_MODEL} hears you, sees the frame and answers in its own voice (${settings.REALTIME_VOICE}).`;
  return { engine, note, stages: { stt: model, chat: model, tts: { ...model, format: 'pcm' } } };
}

/** Gets the TTS transcoder ready before the first reply (its resampler blocks while it is made). */
export async function warmSpeechTranscoding(settings: Settings): Promise<void> {
  const pcmReplies = settings.realtime || (settings.stages.tts.provider === 'openai' && settings.TTS_FORMAT !== 'opus');
  if (pcmReplies) await StreamResampler.warm(PCM_SAMPLE_RATE, OPUS_RATE);
}

/** One line per stage for the start-up banner, e.g. "speech-to-text  openai gpt-4o-mini-transcribe at api.openai.com, streamed". */
export function describeStages(stages: StageDescriptions): string[] {
  return (Object.keys(stages) as StageName[]).map((name) => {
    const stage = stages[name];
    if (stage.provider === 'offline') {
      return `${STAGE_WORDS[name].padEnd(15)} offline (${name === 'stt' ? 'pocketsphinx' : name === 'tts' ? 'local voice' : 'colour description'})`;
    }
    const extras = [stage.streaming === undefined ? '' : stage.streaming ? 'streamed' : 'uploaded after release', stage.format ? `${stage.format} audio` : '']
      .filter(Boolean)
      .join(', ');
    return `${STAGE_WORDS[name].padEnd(15)} openai ${stage.model ?? ''} at ${stage.host}${extras ? `, ${extras}` : ''}`;
  });
}
