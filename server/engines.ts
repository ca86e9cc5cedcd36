import type { AssistantEngine } from './assistant/engine.js';
import { OfflineEngine } from './assistant/offline/offline-engine.js';
import { OpenAIEngine } from './assistant/openai/openai-engine.js';
import type { Settings } from './config.js';

export const OFFLINE_NOTE =
  'Offline engine: it hears you with pocketsphinx and can only describe colours and brightness. ' +
  'Set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) and restart for a real vision assistant.';

/** The engine the settings ask for, and a note for the page when it is the offline one. */
export function createEngine(settings: Settings): { engine: AssistantEngine; note?: string } {
  if (settings.engine === 'openai') return { engine: new OpenAIEngine(settings) };
  return { engine: new OfflineEngine(), note: OFFLINE_NOTE };
}
