import { checkRecordSize, type ConversationStore, type StoreBounds } from './conversation-store.js';

/**
 * In-process conversations with expiry, a size bound per record and a count bound (least recently
 * used go first). In a cluster it lives in the primary and workers reach it over IPC
 * (primary-store.ts); with one process the server uses it directly.
 */
export class MemoryConversationStore implements ConversationStore {
  readonly kind = 'memory';
  /** Map order is use order: the first entry is the least recently used. */
  private readonly records = new Map<string, { record: string; expiresAt: number }>();

  constructor(
    private readonly bounds: StoreBounds & { maxCount: number },
    private readonly now: () => number = Date.now,
  ) {}

  async load(key: string): Promise<string | undefined> {
    const entry = this.records.get(key);
    if (!entry) return undefined;
    this.records.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.records.set(key, entry);
    return entry.record;
  }

  async save(key: string, record: string): Promise<void> {
    checkRecordSize(record, this.bounds.maxBytes);
    this.records.delete(key);
    this.records.set(key, { record, expiresAt: this.now() + this.bounds.ttlSeconds * 1000 });
    this.sweep();
  }

  get size(): number {
    return this.records.size;
  }

  async close(): Promise<void> {
    this.records.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.records) {
      if (this.records.size <= this.bounds.maxCount && entry.expiresAt > now) break;
      if (entry.expiresAt <= now || this.records.size > this.bounds.maxCount) this.records.delete(key);
    }
  }
}
