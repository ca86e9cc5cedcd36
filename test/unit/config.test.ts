import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError, type Settings } from '../../server/config.js';

/** The SettingsError `parseSettings` throws for `env` (fails the test if it does not throw one). */
function settingsErrorFor(env: NodeJS.ProcessEnv): SettingsError {
  try {
    parseSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }
  throw new Error(`expected a SettingsError for ${JSON.stringify(env)}`);
}

describe('parseSettings: defaults', () => {
  it('gives every setting a sensible default from an empty environment', () => {
    const settings: Settings = parseSettings({});
    expect(settings).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 8443,
      CERTS_DIR: 'certs',
      LOG_LEVEL: 'info',
      engine: 'offline',
      IMAGE_DETAIL: 'auto',
      JPEG_MAX_SIDE: 1024,
      MODEL_MAX_RETRIES: 1,
    });
    for (const model of ['STT_MODEL', 'CHAT_MODEL', 'TTS_MODEL', 'TTS_VOICE'] as const) {
      expect(settings[model].length).toBeGreaterThan(0);
    }
    expect(settings.TLS_CERT).toBeUndefined();
    expect(settings.TLS_KEY).toBeUndefined();
    expect(settings.OPENAI_API_KEY).toBeUndefined();
    expect(settings.OPENAI_BASE_URL).toBeUndefined();
  });

  it('reads numbers from their text form and keeps given values', () => {
    const settings = parseSettings({ PORT: '9443', HOST: '0.0.0.0', CHAT_MODEL: 'my-model', JPEG_MAX_SIDE: '512' });
    expect(settings).toMatchObject({ PORT: 9443, HOST: '0.0.0.0', CHAT_MODEL: 'my-model', JPEG_MAX_SIDE: 512 });
  });
});

describe('parseSettings: engine choice (DESIGN.md "Server contract")', () => {
  it('uses the OpenAI engine when OPENAI_API_KEY is set', () => {
    expect(parseSettings({ OPENAI_API_KEY: 'sk-test' }).engine).toBe('openai');
  });

  it('uses the offline engine when no key is set, or the key is blank', () => {
    expect(parseSettings({}).engine).toBe('offline');
    expect(parseSettings({ OPENAI_API_KEY: '' }).engine).toBe('offline');
    expect(parseSettings({ OPENAI_API_KEY: '   ' }).engine).toBe('offline');
  });

  it('lets ASSISTANT_ENGINE force either engine', () => {
    expect(parseSettings({ OPENAI_API_KEY: 'sk-test', ASSISTANT_ENGINE: 'offline' }).engine).toBe('offline');
    expect(parseSettings({ OPENAI_API_KEY: 'sk-test', ASSISTANT_ENGINE: 'openai' }).engine).toBe('openai');
    expect(parseSettings({ ASSISTANT_ENGINE: 'offline' }).engine).toBe('offline');
    expect(parseSettings({ ASSISTANT_ENGINE: '' }).engine).toBe('offline'); // blank: not forced
  });

  it('refuses ASSISTANT_ENGINE=openai without a key, naming the missing setting', () => {
    const error = settingsErrorFor({ ASSISTANT_ENGINE: 'openai' });
    expect(error.message).toContain('ASSISTANT_ENGINE');
    expect(error.message).toContain('OPENAI_API_KEY');
    expect(settingsErrorFor({ ASSISTANT_ENGINE: 'openai', OPENAI_API_KEY: ' ' }).message).toContain('OPENAI_API_KEY');
  });

  it('refuses an unknown engine name, naming ASSISTANT_ENGINE', () => {
    expect(settingsErrorFor({ ASSISTANT_ENGINE: 'gpt' }).message).toContain('ASSISTANT_ENGINE');
  });

  it('points the OpenAI engine at OPENAI_BASE_URL when given', () => {
    const settings = parseSettings({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: ' http://127.0.0.1:9999/v1 ' });
    expect(settings.OPENAI_BASE_URL).toBe('http://127.0.0.1:9999/v1');
    expect(settings.engine).toBe('openai');
  });
});

describe('parseSettings: bad values name the setting', () => {
  it.each([['not-a-port'], ['70000'], ['-1'], ['443.5']])('PORT=%s', (port) => {
    const error = settingsErrorFor({ PORT: port });
    expect(error.message).toMatch(/^Invalid settings/);
    expect(error.message).toMatch(/\bPORT\b/);
  });

  it('a blank PORT (as in a `PORT=` line in .env) means the default or is refused, never a random port', () => {
    // z.coerce.number() turns '' into 0, which would make the server listen on a random port.
    for (const port of ['', '  ']) {
      let chosen: number | undefined;
      try {
        chosen = parseSettings({ PORT: port }).PORT;
      } catch (err) {
        expect(err).toBeInstanceOf(SettingsError);
        expect((err as Error).message).toMatch(/\bPORT\b/);
        continue;
      }
      expect(chosen).toBe(8443);
    }
  });

  it('OPENAI_BASE_URL that is not a URL', () => {
    const error = settingsErrorFor({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'not a url' });
    expect(error.message).toContain('OPENAI_BASE_URL');
  });

  it('names each bad setting when several are wrong', () => {
    const error = settingsErrorFor({ PORT: 'abc', LOG_LEVEL: 'loud', JPEG_QUALITY: '500' });
    for (const name of ['PORT', 'LOG_LEVEL', 'JPEG_QUALITY']) expect(error.message).toContain(name);
    expect(error.name).toBe('SettingsError');
  });
});

describe('parseSettings: scale (WORKERS, REDIS_URL, ICE_PORT_RANGE, ICE_PUBLIC_IP)', () => {
  it('defaults to one worker per core, no Redis, any UDP port, no announced address', () => {
    const settings = parseSettings({});
    expect(settings.WORKERS).toBe(availableParallelism());
    expect(settings.REDIS_URL).toBeUndefined();
    expect(settings.ICE_PORT_RANGE).toBeUndefined();
    expect(settings.ICE_PUBLIC_IP).toBeUndefined();
  });

  it('reads each from its text form', () => {
    const settings = parseSettings({ WORKERS: '3', REDIS_URL: 'redis://10.0.0.2:6379/1', ICE_PORT_RANGE: '40000-40999', ICE_PUBLIC_IP: '203.0.113.7' });
    expect(settings).toMatchObject({ WORKERS: 3, REDIS_URL: 'redis://10.0.0.2:6379/1', ICE_PORT_RANGE: [40000, 40999], ICE_PUBLIC_IP: '203.0.113.7' });
  });

  it('names each bad value', () => {
    const message = settingsErrorFor({ WORKERS: '0', REDIS_URL: 'http://x', ICE_PORT_RANGE: '50000-40000', ICE_PUBLIC_IP: 'my-host' }).message;
    for (const name of ['WORKERS', 'REDIS_URL', 'ICE_PORT_RANGE', 'ICE_PUBLIC_IP']) expect(message).toContain(name);
    expect(settingsErrorFor({ ICE_PORT_RANGE: '40000' }).message).toMatch(/ICE_PORT_RANGE.*min-max/);
    });
});

describe('parseSettings: access and limits', () => {
  it('has a default for every limit', () => {
    expect(parseSettings({})).toMatchObject({
      MAX_CALLS: 100,
      MAX_CALLS_PER_ADDRESS: 10,
      MAX_EVENTS_PER_SECOND: 30,
      MAX_TURNS_PER_SECOND: 1,
      REPLY_MAX_TOKENS: 800,
      HISTORY_IMAGES: 2,
      HISTORY_MAX_MESSAGES: 60,
      HISTORY_MAX_CONVERSATIONS: 500,
      HISTORY_IDLE_MINUTES: 120,
      VIDEO_MAX_FRAMES: 125,
      SNAPSHOT_MAX_PIXELS: 3840 * 2160,
      SNAPSHOT_MAX_OUTPUT_MB: 64,
      CHILD_PROCESS_TIMEOUT_MS: 20_000,
    });
    expect(parseSettings({}).ICE_SERVERS).toBeUndefined();
    expect(parseSettings({}).ACCESS_TOKEN).toBeUndefined();
  });

  it('reads ICE_SERVERS as a JSON list and refuses anything else by name', () => {
    const servers = [{ urls: 'stun:stun.example.org:3478' }, { urls: ['turn:t.example.org'], username: 'u', credential: 'p' }];
    expect(parseSettings({ ICE_SERVERS: JSON.stringify(servers) }).ICE_SERVERS).toEqual(servers);
    expect(settingsErrorFor({ ICE_SERVERS: 'stun:x' }).message).toMatch(/ICE_SERVERS: must be a JSON list/);
    expect(settingsErrorFor({ ICE_SERVERS: '[{"urls":"http://x"}]' }).message).toMatch(/ICE_SERVERS/);
  });

  it('wants a long ACCESS_TOKEN and a positive limit', () => {
    expect(settingsErrorFor({ ACCESS_TOKEN: 'short' }).message).toMatch(/ACCESS_TOKEN: must be at least 16 characters/);
    expect(settingsErrorFor({ MAX_CALLS: '0' }).message).toMatch(/MAX_CALLS/);
  });
});
