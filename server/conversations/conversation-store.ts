/**
 * Where conversations live between a page's connections: an embedded store shared by this
 * machine's workers, or Redis shared by many machines. Records are opaque JSON text
 * (conversation-record.ts); keys are hashes of the page's secret (conversation-key.ts).
 */
export interface ConversationStore {
  readonly kind: 'memory' | 'primary' | 'redis';
  load(key: string): Promise<string | undefined>;
  /** Keeps `record` for the store's expiry from now; a record over the size bound is refused. */
  save(key: string, record: string): Promise<void>;
  close(): Promise<void>;
}

export interface StoreBounds {
  /** A record not saved again for this long is forgotten. */
  ttlSeconds: number;
  /** Largest record, in bytes of UTF-8. */
  maxBytes: number;
}

export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
}

export function checkRecordSize(record: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(record);
  if (bytes > maxBytes) throw new RecordTooLargeError(`conversation record of ${bytes} bytes is over the ${maxBytes}-byte bound`);
}
