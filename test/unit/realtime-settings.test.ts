import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../server/config.js';
import { createEngine } from '../../server/engines.js';
import { resolveRealtime } from '../../server/realtime-settings.js';

describe('ASSISTANT_ENGINE=realtime settings', () => {
  it('speaks to <OPENAI_BASE_URL, https→wss>/realtime?model=REALTIME_MODEL with a Bearer key', () => {
    const settings = parseSettings({ ASSISTANT_ENGINE: 'realtime', OPENAI_API_KEY: 'sk-a' });
    expect(settings.engine).toBe('realtime');
    expect(settings.realtime!.url.href).toBe('wss://api.openai.com/v1/realtime?model=gpt-realtime');
    expect(settings.realtime!.headers).toEqual({ Authorization: 'Bearer sk-a' });
    expect(settings).toMatchObject({ REALTIME_MODEL: 'gpt-realtime', REALTIME_VOICE: 'marin', REALTIME_MAX_IMAGES: 2 });
    const local = parseSettings({ ASSISTANT_ENGINE: 'realtime', OPENAI_BASE_URL: 'http://127.0.0.1:9000/v1', REALTIME_MODEL: 'm', REALTIME_MAX_IMAGES: '5' });
    expect(local.realtime!.url.href).toBe('ws://127.0.0.1:9000/v1/realtime?model=m');
    expect(local.realtime!.headers).toEqual({});
    expect(local.REALTIME_MAX_IMAGES).toBe(5);
  });

  it('Azure: wss://<resource>/openai/v1/realtime?model=<deployment> with the api-key header', () => {
    const settings = parseSettings({
      ASSISTANT_ENGINE: 'realtime', AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com/', AZURE_OPENAI_API_KEY: 'az-key', REALTIME_MODEL: 'my-deployment',
    });
    expect(settings.realtime!.url.href).toBe('wss://res.openai.azure.com/openai/v1/realtime?model=my-deployment');
    expect(settings.realtime!.headers).toEqual({ 'api-key': 'az-key' });
    expect(settings.realtime!.keySetting).toBe('AZURE_OPENAI_API_KEY');
  });

  it('refuses to start without a key or a server, naming the settings', () => {
    expect(() => parseSettings({ ASSISTANT_ENGINE: 'realtime' })).toThrow(SettingsError);
    expect(() => parseSettings({ ASSISTANT_ENGINE: 'realtime' })).toThrow(/ASSISTANT_ENGINE=realtime needs OPENAI_API_KEY/);
    const problems: string[] = [];
    expect(resolveRealtime({ AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com', REALTIME_MODEL: 'd' }, problems)).toBeUndefined();
    expect(problems.join()).toMatch(/AZURE_OPENAI_API_KEY/);
    expect(() => parseSettings({ ASSISTANT_ENGINE: 'speech' })).toThrow(/ASSISTANT_ENGINE/);
  });

  it('the engine is speech-to-speech, says so, and prewarms no HTTP stage', () => {
    const { engine, note, stages } = createEngine(parseSettings({ ASSISTANT_ENGINE: 'realtime', OPENAI_API_KEY: 'sk-a' }));
    expect(engine.name).toBe('realtime');
    expect(engine.speechToSpeech).toBeDefined();
    expect(note).toMatch(/Speech-to-speech: gpt-realtime/);
    expect(stages.chat).toMatchObject({ provider: 'openai', host: 'api.openai.com', model: 'gpt-realtime' });
  });
});
