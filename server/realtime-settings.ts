/**
 * Where the speech-to-speech engine (ASSISTANT_ENGINE=realtime) connects, worked out from the raw
 * settings (DESIGN.md "Speech-to-speech engine"): OpenAI or a compatible server at
 * `<OPENAI_BASE_URL, https→wss>/realtime?model=<REALTIME_MODEL>` with a Bearer key, or Azure OpenAI
 * at `wss://<resource>/openai/v1/realtime?model=<deployment>` with an `api-key` header.
 */
import { realtimeURL } from './assistant/openai/realtime-socket.js';

export interface RealtimeSettings {
  url: URL;
  /** Sent with the WebSocket upgrade (the key; never in the URL). */
  headers: Record<string, string>;
  /** The setting the key came from, named in error messages. */
  keySetting: string;
  /** The setting that names the server, named when it cannot be reached. */
  serverSetting: string;
  host: string;
}

export interface RealtimeInputs {
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  AZURE_OPENAI_ENDPOINT?: string;
  AZURE_OPENAI_API_KEY?: string;
  REALTIME_MODEL: string;
}

const OPENAI_BASE = 'https://api.openai.com/v1';

/** The endpoint and headers; a line in `problems` for a combination that cannot work. */
export function resolveRealtime(s: RealtimeInputs, problems: string[]): RealtimeSettings | undefined {
  if (s.AZURE_OPENAI_ENDPOINT) {
    const key = s.AZURE_OPENAI_API_KEY ?? s.OPENAI_API_KEY;
    let endpoint: URL;
    try {
      endpoint = new URL(s.AZURE_OPENAI_ENDPOINT);
    } catch {
      problems.push('  AZURE_OPENAI_ENDPOINT must be a URL such as https://my-resource.openai.azure.com');
      return undefined;
    }
    if (!key) {
      problems.push('  ASSISTANT_ENGINE=realtime with AZURE_OPENAI_ENDPOINT needs AZURE_OPENAI_API_KEY (or OPENAI_API_KEY).');
      return undefined;
    }
    // Only the resource's origin counts: the Realtime path is fixed whatever path the endpoint has.
    const url = realtimeURL(`${endpoint.origin}/openai/v1`, { model: s.REALTIME_MODEL });
    return {
      url,
      headers: { 'api-key': key },
      keySetting: s.AZURE_OPENAI_API_KEY ? 'AZURE_OPENAI_API_KEY' : 'OPENAI_API_KEY',
      serverSetting: 'AZURE_OPENAI_ENDPOINT',
      host: url.host,
    };
  }
  if (!s.OPENAI_API_KEY && !s.OPENAI_BASE_URL) {
    problems.push('  ASSISTANT_ENGINE=realtime needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server, or AZURE_OPENAI_ENDPOINT).');
    return undefined;
  }
  const url = realtimeURL(s.OPENAI_BASE_URL ?? OPENAI_BASE, { model: s.REALTIME_MODEL });
  return {
    url,
    headers: s.OPENAI_API_KEY ? { Authorization: `Bearer ${s.OPENAI_API_KEY}` } : {},
    keySetting: 'OPENAI_API_KEY',
    serverSetting: 'OPENAI_BASE_URL',
    host: url.host,
  };
}
