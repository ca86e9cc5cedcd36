/**
 * Which provider serves each stage (speech-to-text, chat, text-to-speech) and where its API is,
 * worked out from the raw settings (DESIGN.md "Stages and providers"). Kept apart from config.ts,
 * which only reads and validates the variables.
 */
import type { ProviderName } from './assistant/engine.js';

export type StageName = 'stt' | 'chat' | 'tts';

export const STAGE_WORDS: Record<StageName, string> = { stt: 'speech-to-text', chat: 'chat', tts: 'voice' };
const PREFIX: Record<StageName, 'STT' | 'CHAT' | 'TTS'> = { stt: 'STT', chat: 'CHAT', tts: 'TTS' };

export interface StageSettings {
  provider: ProviderName;
  /** The setting that chose the provider, e.g. `STT_PROVIDER`, `ASSISTANT_ENGINE`, or `default`. */
  providerSetting: string;
  /** OpenAI-compatible base URL (undefined: api.openai.com, or Azure when `azureEndpoint` is set). */
  baseURL?: string;
  apiKey?: string;
  /** The setting the key came from, named in error messages (e.g. `STT_API_KEY`). */
  keySetting: string;
  /** The setting that names the server (e.g. `STT_BASE_URL`, `OPENAI_BASE_URL`). */
  baseURLSetting: string;
  /** Set when this stage talks to Azure OpenAI. */
  azureEndpoint?: string;
  /** Host requests go to, for the banner and messages (`local` for offline stages). */
  host: string;
}

export interface ResolvedStages {
  stt: StageSettings;
  chat: StageSettings;
  tts: StageSettings;
  /** Whether the mic audio streams to the STT provider while the user talks (STT_STREAMING). */
  sttStreaming: boolean;
}

/** The raw (validated) variables this needs. */
export interface StageInputs {
  ASSISTANT_ENGINE?: ProviderName;
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  AZURE_OPENAI_ENDPOINT?: string;
  AZURE_OPENAI_API_KEY?: string;
  STT_PROVIDER?: ProviderName;
  CHAT_PROVIDER?: ProviderName;
  TTS_PROVIDER?: ProviderName;
  STT_BASE_URL?: string;
  STT_API_KEY?: string;
  CHAT_BASE_URL?: string;
  CHAT_API_KEY?: string;
  TTS_BASE_URL?: string;
  TTS_API_KEY?: string;
  STT_STREAMING: 'on' | 'off' | 'auto';
}

const OPENAI_HOST = 'api.openai.com';

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function resolveStage(stage: StageName, s: StageInputs, problems: string[]): StageSettings {
  const prefix = PREFIX[stage];
  const ownProvider = s[`${prefix}_PROVIDER`];
  const ownBaseURL = s[`${prefix}_BASE_URL`];
  const ownKey = s[`${prefix}_API_KEY`];
  const baseURL = ownBaseURL ?? s.OPENAI_BASE_URL;
  // Azure serves a stage only when the stage has no endpoint of its own.
  const azureEndpoint = ownBaseURL === undefined ? s.AZURE_OPENAI_ENDPOINT : undefined;
  const apiKey = ownKey ?? (azureEndpoint ? (s.AZURE_OPENAI_API_KEY ?? s.OPENAI_API_KEY) : s.OPENAI_API_KEY);
  const keySetting =
    ownKey !== undefined ? `${prefix}_API_KEY`
    : azureEndpoint && s.AZURE_OPENAI_API_KEY ? 'AZURE_OPENAI_API_KEY'
    : 'OPENAI_API_KEY';
  const reachable = Boolean(apiKey || baseURL || (azureEndpoint && apiKey));
  const hasAnything = Boolean(ownKey || ownBaseURL || s.OPENAI_API_KEY || s.OPENAI_BASE_URL || s.AZURE_OPENAI_API_KEY);

  let provider: ProviderName;
  let providerSetting: string;
  if (ownProvider) [provider, providerSetting] = [ownProvider, `${prefix}_PROVIDER`];
  else if (s.ASSISTANT_ENGINE) [provider, providerSetting] = [s.ASSISTANT_ENGINE, 'ASSISTANT_ENGINE'];
  else [provider, providerSetting] = [hasAnything ? 'openai' : 'offline', 'default'];

  if (provider === 'openai' && !reachable) {
    problems.push(
      `  ${providerSetting}=openai (${STAGE_WORDS[stage]}) needs an API key or a server: set ${prefix}_API_KEY or ${prefix}_BASE_URL, ` +
        'or OPENAI_API_KEY / OPENAI_BASE_URL for every stage (or AZURE_OPENAI_API_KEY with AZURE_OPENAI_ENDPOINT).',
    );
  }
  const host =
    provider === 'offline' ? 'local'
    : azureEndpoint ? hostOf(azureEndpoint)
    : baseURL ? hostOf(baseURL)
    : OPENAI_HOST;
  return {
    provider,
    providerSetting,
    ...(baseURL !== undefined && !azureEndpoint ? { baseURL } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    keySetting,
    baseURLSetting: ownBaseURL !== undefined ? `${prefix}_BASE_URL` : azureEndpoint ? 'AZURE_OPENAI_ENDPOINT' : 'OPENAI_BASE_URL',
    ...(azureEndpoint ? { azureEndpoint } : {}),
    host,
  };
}

/** Resolves every stage; each line in `problems` names a combination that cannot work. */
export function resolveStages(s: StageInputs): { stages: ResolvedStages; problems: string[] } {
  const problems: string[] = [];
  const stt = resolveStage('stt', s, problems);
  const chat = resolveStage('chat', s, problems);
  const tts = resolveStage('tts', s, problems);
  let sttStreaming = false;
  if (s.STT_STREAMING === 'on') {
    if (stt.provider !== 'openai') {
      problems.push('  STT_STREAMING=on needs STT_PROVIDER=openai: the offline recogniser hears the segment after release.');
    } else if (stt.azureEndpoint) {
      problems.push('  STT_STREAMING=on is not supported with AZURE_OPENAI_ENDPOINT yet: set STT_STREAMING=off (or auto).');
    } else sttStreaming = true;
  } else if (s.STT_STREAMING === 'auto') {
    sttStreaming = stt.provider === 'openai' && !stt.azureEndpoint && stt.host === OPENAI_HOST;
  }
  return { stages: { stt, chat, tts, sttStreaming }, problems };
}

/** `openai` or `offline` when every stage agrees, else `mixed`. */
export function engineName(stages: ResolvedStages): ProviderName | 'mixed' {
  const providers = new Set([stages.stt.provider, stages.chat.provider, stages.tts.provider]);
  return providers.size === 1 ? [...providers][0]! : 'mixed';
}
