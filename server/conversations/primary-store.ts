/** The embedded store in a cluster: held by the primary, reached by every worker over IPC. */
import { requestPrimary, type IpcHandler } from '../cluster/ipc.js';
import type { ConversationStore } from './conversation-store.js';

const LOAD = 'conversation:load';
const SAVE = 'conversation:save';

/** Worker side. */
export class PrimaryConversationStore implements ConversationStore {
  readonly kind = 'primary';

  async load(key: string): Promise<string | undefined> {
    const record = await requestPrimary(LOAD, { key });
    return typeof record === 'string' ? record : undefined;
  }

  async save(key: string, record: string): Promise<void> {
    await requestPrimary(SAVE, { key, record });
  }

  async close(): Promise<void> {}
}

function field(payload: unknown, name: string): string {
  const value = (payload as Record<string, unknown> | null)?.[name];
  if (typeof value !== 'string') throw new Error(`"${name}" must be a string`);
  return value;
}

/** Primary side: the handlers that serve the workers from `store`. */
export function serveStoreRequests(store: ConversationStore): Record<string, IpcHandler> {
  return {
    [LOAD]: async (payload) => (await store.load(field(payload, 'key'))) ?? null,
    [SAVE]: async (payload) => {
      await store.save(field(payload, 'key'), field(payload, 'record'));
      return true;
    },
  };
}
