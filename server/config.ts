import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';

/** Every setting the server reads, from the environment (and `.env`), validated once at start. */
/** A whole number setting; blank counts as unset (z.coerce alone would read '' as 0). */
const intFrom = (def: number, min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z.coerce.number().int().min(min).max(max).default(def),
  );
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const settingsSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: intFrom(8443, 0, 65535),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  CERTS_DIR: z.string().default('certs'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  ASSISTANT_ENGINE: z
    .enum(['openai', 'offline'], { message: 'must be "openai" or "offline"' })
    .optional()
    .or(z.literal('').transform(() => undefined)),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: optionalText.pipe(z.string().url().optional()),
  STT_MODEL: z.string().min(1).default('gpt-4o-mini-transcribe'),
  CHAT_MODEL: z.string().min(1).default('gpt-4.1-mini'),
  TTS_MODEL: z.string().min(1).default('gpt-4o-mini-tts'),
  TTS_VOICE: z.string().min(1).default('alloy'),
  TTS_INSTRUCTIONS: optionalText,
  IMAGE_DETAIL: z.enum(['low', 'high', 'auto']).default('auto'),
  /** Per-request timeout for the model API, ms. */
  MODEL_TIMEOUT_MS: intFrom(20_000, 100, 600_000),
  /** Retries before the first byte of a response (never after: no replayed words or audio). */
  MODEL_MAX_RETRIES: intFrom(1, 0, 5),
  AZURE_OPENAI_ENDPOINT: optionalText,
  AZURE_OPENAI_API_KEY: optionalText,
  OPENAI_API_VERSION: optionalText,

  SYSTEM_PROMPT: z
    .string()
    .default(
      'You are a helpful assistant that can see the user\'s camera or screen. Answer in a few short, spoken-style sentences. Use code blocks only for code.',
    ),
  /** Rough budget (characters of text + image cost) the conversation history may use. */
  HISTORY_BUDGET_CHARS: intFrom(24_000, 1000, 1_000_000),

  /** A hold longer than this is cut and answered as is. */
  MAX_HOLD_SECONDS: intFrom(60, 1, 3600),
  /** Less detected speech than this is treated as an accidental press. */
  MIN_SPEECH_MS: intFrom(500, 0, 10_000),
  JPEG_MAX_SIDE: intFrom(1024, 64, 8192),
  JPEG_QUALITY: intFrom(80, 1, 100),
  FFMPEG_PATH: optionalText,
});

export type Settings = z.infer<typeof settingsSchema> & { engine: 'openai' | 'offline' };

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Parses settings from `env`; throws a SettingsError naming each bad setting. */
export function parseSettings(env: NodeJS.ProcessEnv): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(settings)'}: ${issue.message}`);
    throw new SettingsError(`Invalid settings:\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  const hasKey = Boolean(s.OPENAI_API_KEY || s.AZURE_OPENAI_API_KEY);
  const engine = s.ASSISTANT_ENGINE ?? (hasKey ? 'openai' : 'offline');
  if (engine === 'openai' && !hasKey) {
    throw new SettingsError(
      'Invalid settings:\n  ASSISTANT_ENGINE=openai needs OPENAI_API_KEY (or AZURE_OPENAI_API_KEY with AZURE_OPENAI_ENDPOINT).',
    );
  }
  return { ...s, engine };
}

/** Reads `.env` (if any; real environment wins) and parses. */
export function loadSettings(): Settings {
  loadDotenv({ quiet: true });
  return parseSettings(process.env);
}
