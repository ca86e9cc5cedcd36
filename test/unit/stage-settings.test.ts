import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../server/config.js';
import { createEngine, describeStages } from '../../server/engines.js';

function errorFor(env: NodeJS.ProcessEnv): string {
  try {
    parseSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as Error).message;
  }
  throw new Error(`expected a SettingsError for ${JSON.stringify(env)}`);
}

describe('stage providers (DESIGN.md "Stages and providers")', () => {
  it('defaults every stage to openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, else offline', () => {
    const keyed = parseSettings({ OPENAI_API_KEY: 'sk-test' });
    expect([keyed.stages.stt.provider, keyed.stages.chat.provider, keyed.stages.tts.provider]).toEqual(['openai', 'openai', 'openai']);
    expect(keyed.stages.chat.host).toBe('api.openai.com');
    const local = parseSettings({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(local.engine).toBe('openai');
    expect(local.stages.chat).toMatchObject({ provider: 'openai', baseURL: 'http://127.0.0.1:11434/v1', host: '127.0.0.1:11434' });
    expect(local.stages.chat.apiKey).toBeUndefined();
    const none = parseSettings({});
    expect(none.engine).toBe('offline');
    expect(none.stages.stt).toMatchObject({ provider: 'offline', host: 'local' });
  });

  it('mixes providers per stage, each with its own base URL and key falling back to OPENAI_*', () => {
    const s = parseSettings({
      OPENAI_API_KEY: 'sk-main',
      STT_PROVIDER: 'offline',
      CHAT_BASE_URL: 'http://127.0.0.1:11434/v1',
      CHAT_API_KEY: 'ollama',
      TTS_BASE_URL: 'http://tts.local:8000/v1',
    });
    expect(s.engine).toBe('mixed');
    expect(s.stages.stt.provider).toBe('offline');
    expect(s.stages.chat).toMatchObject({ provider: 'openai', baseURL: 'http://127.0.0.1:11434/v1', apiKey: 'ollama', keySetting: 'CHAT_API_KEY' });
    expect(s.stages.tts).toMatchObject({ provider: 'openai', baseURL: 'http://tts.local:8000/v1', apiKey: 'sk-main', keySetting: 'OPENAI_API_KEY', baseURLSetting: 'TTS_BASE_URL' });
  });

  it('ASSISTANT_ENGINE sets all three; a stage setting wins over it', () => {
    const all = parseSettings({ ASSISTANT_ENGINE: 'offline', OPENAI_API_KEY: 'sk-test' });
    expect(all.engine).toBe('offline');
    const mixed = parseSettings({ ASSISTANT_ENGINE: 'offline', CHAT_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test' });
    expect([mixed.stages.stt.provider, mixed.stages.chat.provider, mixed.stages.tts.provider]).toEqual(['offline', 'openai', 'offline']);
  });

  it('refuses a stage set to openai with neither key nor base URL, naming the stage and its settings', () => {
    const message = errorFor({ TTS_PROVIDER: 'openai' });
    expect(message).toContain('TTS_PROVIDER=openai');
    expect(message).toContain('TTS_API_KEY');
    expect(message).toContain('TTS_BASE_URL');
    expect(message).not.toContain('STT_PROVIDER');
    expect(errorFor({ ASSISTANT_ENGINE: 'openai', STT_PROVIDER: 'offline' })).toContain('ASSISTANT_ENGINE=openai (chat)');
    // A base URL alone is enough (a local server needs no key).
    expect(parseSettings({ TTS_PROVIDER: 'openai', TTS_BASE_URL: 'http://127.0.0.1:8880/v1' }).stages.tts.provider).toBe('openai');
  });

  it('STT_STREAMING: auto is on for api.openai.com only; on needs an OpenAI transcriber', () => {
    expect(parseSettings({ OPENAI_API_KEY: 'sk' }).stages.sttStreaming).toBe(true);
    expect(parseSettings({ OPENAI_API_KEY: 'sk', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).stages.sttStreaming).toBe(false);
    expect(parseSettings({ OPENAI_API_KEY: 'sk', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', STT_STREAMING: 'on' }).stages.sttStreaming).toBe(true);
    expect(parseSettings({ OPENAI_API_KEY: 'sk', STT_STREAMING: 'off' }).stages.sttStreaming).toBe(false);
    expect(parseSettings({ OPENAI_API_KEY: 'sk', STT_STREAMING: '' }).stages.sttStreaming).toBe(true); // blank = auto
    expect(errorFor({ STT_STREAMING: 'on' })).toContain('STT_STREAMING=on needs STT_PROVIDER=openai');
    expect(errorFor({ STT_STREAMING: 'sometimes' })).toContain('STT_STREAMING');
  });

  it('TTS_FORMAT is opus by default and one of opus, wav, pcm, mp3', () => {
    expect(parseSettings({}).TTS_FORMAT).toBe('opus');
    expect(parseSettings({ TTS_FORMAT: 'pcm' }).TTS_FORMAT).toBe('pcm');
    expect(errorFor({ TTS_FORMAT: 'flac' })).toContain('TTS_FORMAT');
  });

  it('composes the providers the settings name and describes them for the banner and the page', () => {
    const { engine, stages, note } = createEngine(
      parseSettings({ STT_PROVIDER: 'offline', OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', TTS_FORMAT: 'mp3' }),
    );
    expect(engine.name).toBe('mixed');
    expect([engine.transcriber.provider, engine.chatModel.provider, engine.speaker.provider]).toEqual(['offline', 'openai', 'openai']);
    expect(note).toBeUndefined();
    expect(stages.tts).toMatchObject({ provider: 'openai', host: '127.0.0.1:11434', format: 'mp3' });
    const banner = describeStages(stages);
    expect(banner[0]).toMatch(/^speech-to-text +offline/);
    expect(banner[2]).toContain('at 127.0.0.1:11434, mp3 audio');
    expect(createEngine(parseSettings({})).note).toMatch(/Offline engine/);
  });
});
