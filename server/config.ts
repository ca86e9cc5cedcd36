import { config as loadDotenv } from 'dotenv';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { resolveRealtime, type RealtimeSettings } from './realtime-settings.js';
import { engineName, resolveStages, type ResolvedStages } from './stage-settings.js';

/** Every setting the server reads, from the environment (and `.env`), validated once at start. */
/** A whole number setting; blank counts as unset (z.coerce alone would read '' as 0). */
const intFrom = (def: number, min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z.coerce.number().int().min(min).max(max).default(def),
  );
const providerSetting = z
  .enum(['openai', 'offline'], { message: 'must be "openai" or "offline"' })
  .optional()
  .or(z.literal('').transform(() => undefined));
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** One of `values`; blank (a `NAME=` line in .env) counts as unset. */
const choiceFrom = <const T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.enum(values).default(def));
const optionalUrl = optionalText.pipe(z.string().url().optional());
/** `min-max` UDP ports, e.g. `40000-40999`. */
const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'must be "min-max", e.g. 40000-40999')
  .transform((text) => text.split('-').map(Number) as [number, number])
  .refine(([min, max]) => min >= 1024 && max <= 65535 && min < max, 'must be two ports 1024–65535, the first below the second');

/** ICE_SERVERS: a JSON list of STUN/TURN servers, as RTCPeerConnection takes them. */
const iceServerList = z.preprocess(
  (value) => {
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value; // fails the array check below with a clear message
    }
  },
  z
    .array(
      z.object({
        urls: z.union([z.string().regex(/^(stun|stuns|turn|turns):/), z.array(z.string().regex(/^(stun|stuns|turn|turns):/)).min(1)]),
        username: z.string().optional(),
        credential: z.string().optional(),
      }),
      { message: 'must be a JSON list like [{"urls":"stun:stun.example.org:3478"}]' },
    )
    .max(8)
    .optional(),
);

export const settingsSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: intFrom(8443, 0, 65535),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  CERTS_DIR: z.string().default('certs'),
  /** Required by every request when HOST is not loopback; made and printed at start when unset. */
  ACCESS_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  ICE_SERVERS: iceServerList,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  /** `openai` / `offline` set every stage's provider; `realtime` is the speech-to-speech engine. */
  ASSISTANT_ENGINE: z
    .enum(['openai', 'offline', 'realtime'], { message: 'must be "openai", "offline" or "realtime"' })
    .optional()
    .or(z.literal('').transform(() => undefined)),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: optionalUrl,
  /** Per-stage provider and endpoint (DESIGN.md "Stages and providers"); see stage-settings.ts. */
  STT_PROVIDER: providerSetting,
  CHAT_PROVIDER: providerSetting,
  TTS_PROVIDER: providerSetting,
  STT_BASE_URL: optionalUrl,
  STT_API_KEY: optionalText,
  CHAT_BASE_URL: optionalUrl,
  CHAT_API_KEY: optionalText,
  TTS_BASE_URL: optionalUrl,
  TTS_API_KEY: optionalText,
  /** What is asked of the TTS server; anything but Ogg-Opus is encoded to Opus here. */
  TTS_FORMAT: choiceFrom(['opus', 'wav', 'pcm', 'mp3'], 'opus'),
  /** Mic audio to the STT provider while the user talks: on | off | auto (on for api.openai.com). */
  STT_STREAMING: choiceFrom(['on', 'off', 'auto'], 'auto'),
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
  /** Speech-to-speech (ASSISTANT_ENGINE=realtime): the model (Azure: the deployment), its voice. */
  REALTIME_MODEL: z.string().min(1).default('gpt-realtime'),
  REALTIME_VOICE: z.string().min(1).default('marin'),
  /** Camera stills kept in the Realtime conversation; older ones are deleted from it. */
  REALTIME_MAX_IMAGES: intFrom(2, 1, 50),
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

  /** Keep at most this many messages per conversation (user + assistant). */
  HISTORY_MAX_MESSAGES: intFrom(60, 2, 10_000),
  /** The newest this many frames of a conversation are kept (and sent again); older ones are dropped. */
  HISTORY_IMAGES: intFrom(2, 0, 10),
  /** Conversations kept by the embedded store; the least recently used go first (Redis: its own memory policy). */
  HISTORY_MAX_CONVERSATIONS: intFrom(500, 1, 100_000),
  /** A conversation nobody used for this long is forgotten (in Redis too: its expiry). */
  HISTORY_IDLE_MINUTES: intFrom(120, 1, 10_080),

  /** Calls (peers) this process serves at once, and from one client address. */
  MAX_CALLS: intFrom(100, 1, 10_000),
  MAX_CALLS_PER_ADDRESS: intFrom(10, 1, 10_000),
  /** socket.io messages a socket may send per second (a burst of twice this is allowed). */
  MAX_EVENTS_PER_SECOND: intFrom(30, 1, 10_000),
  /** Questions (typed or spoken) a socket may start per second (a burst of three is allowed). */
  MAX_TURNS_PER_SECOND: intFrom(1, 1, 100),
  /** Longest reply the chat model may write, in tokens. */
  REPLY_MAX_TOKENS: intFrom(800, 16, 32_000),
  /** Video frames kept since the last keyframe (what a snapshot decodes); ~5 s at 25 fps. */
  VIDEO_MAX_FRAMES: intFrom(125, 10, 3000),
  /** A frame larger than this many pixels is not decoded (ffmpeg -max_pixels); 4K by default. */
  SNAPSHOT_MAX_PIXELS: intFrom(3840 * 2160, 64 * 64, 100_000_000),
  /** Most decoded picture data one snapshot may produce, MB. */
  SNAPSHOT_MAX_OUTPUT_MB: intFrom(64, 1, 4096),
  /** ffmpeg, pocketsphinx and flite runs are killed after this long. */
  CHILD_PROCESS_TIMEOUT_MS: intFrom(20_000, 500, 600_000),

  /** A hold longer than this is cut and answered as is. */
  MAX_HOLD_SECONDS: intFrom(60, 1, 3600),
  /** Less detected speech than this is treated as an accidental press. */
  MIN_SPEECH_MS: intFrom(500, 0, 10_000),
  /** Hands-free turn-taking (server/conversation/): Silero VAD speech probability that counts as speech. */
  VAD_THRESHOLD: z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z.coerce.number().min(0.05).max(0.95).default(0.5),
  ),
  /** Hands-free: this much speech starts a turn. */
  VAD_START_MS: intFrom(160, 32, 5000),
  /** Hands-free: this much silence after speech ends the turn. */
  VAD_END_SILENCE_MS: intFrom(640, 100, 10_000),
  /** Hands-free: speech over a reply for this long interrupts it. */
  BARGE_IN_MS: intFrom(600, 32, 10_000),
  /** Audio kept from before a turn's start (key press, or detected speech). */
  PRE_ROLL_MS: intFrom(300, 0, 2000),
  JPEG_MAX_SIDE: intFrom(1024, 64, 8192),
  /** A screen-share still: code on a 1920×1080 screen OCRs at ~73 % of its words at 1024 px, ~99 % at 1920. */
  SCREEN_JPEG_MAX_SIDE: intFrom(1920, 64, 8192),
  JPEG_QUALITY: intFrom(80, 1, 100),
  FFMPEG_PATH: optionalText,

  /** Scale (DESIGN.md "Access and scale"): worker processes; blank = one per core. */
  WORKERS: intFrom(availableParallelism(), 1, 256),
  /** Conversations kept in Redis (shared by machines); unset = an embedded store for this machine. */
  REDIS_URL: optionalText.pipe(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional()),
  /** Largest stored conversation (JSON bytes); images go first, then the oldest turns. */
  HISTORY_MAX_BYTES: intFrom(512 * 1024, 4096, 16 * 1024 * 1024),
  /** UDP ports for media, `min-max`; split between the workers. Unset = any free port. */
  ICE_PORT_RANGE: optionalText.pipe(portRange.optional()),
  /** Address announced in ICE candidates (e.g. the public IP of a host behind 1:1 NAT). */
  ICE_PUBLIC_IP: optionalText.pipe(z.union([z.ipv4(), z.ipv6()], { message: 'must be an IP address' }).optional()),
});

export type Settings = z.infer<typeof settingsSchema> & {
  /** `realtime` (speech-to-speech); else `openai` or `offline` when every stage has that provider, else `mixed`. */
  engine: 'openai' | 'offline' | 'mixed' | 'realtime';
  stages: ResolvedStages;
  /** Where the speech-to-speech engine connects (ASSISTANT_ENGINE=realtime only). */
  realtime?: RealtimeSettings;
};

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
  const speechToSpeech = s.ASSISTANT_ENGINE === 'realtime';
  // The speech-to-speech engine has no stages of its own: they resolve as if no engine were forced.
  const { stages, problems } = resolveStages({ ...s, ASSISTANT_ENGINE: s.ASSISTANT_ENGINE === 'realtime' ? undefined : s.ASSISTANT_ENGINE });
  const realtime = speechToSpeech ? resolveRealtime(s, problems) : undefined;
  if (problems.length > 0) throw new SettingsError(`Invalid settings:\n${problems.join('\n')}`);
  return { ...s, engine: realtime ? 'realtime' : engineName(stages), stages, ...(realtime ? { realtime } : {}) };
}

/** Reads `.env` (if any; real environment wins) and parses. */
export function loadSettings(): Settings {
  loadDotenv({ quiet: true });
  return parseSettings(process.env);
}
