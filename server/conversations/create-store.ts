import cluster from 'node:cluster';
import type { Settings } from '../config.js';
import type { ConversationStore } from './conversation-store.js';
import { MemoryConversationStore } from './memory-store.js';
import { PrimaryConversationStore } from './primary-store.js';
import { RedisConversationStore } from './redis-store.js';

/** Redis when REDIS_URL is set; else the primary's store in a cluster worker, else this process's. */
export function createConversationStore(settings: Settings): ConversationStore {
  const bounds = { ttlSeconds: settings.HISTORY_IDLE_MINUTES * 60, maxBytes: settings.HISTORY_MAX_BYTES };
  if (settings.REDIS_URL) return new RedisConversationStore(settings.REDIS_URL, bounds);
  if (cluster.isWorker) return new PrimaryConversationStore();
  return new MemoryConversationStore({ ...bounds, maxCount: settings.HISTORY_MAX_CONVERSATIONS });
}
