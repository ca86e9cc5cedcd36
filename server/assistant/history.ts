import { storeKeyFor } from '../conversations/conversation-key.js';
import { decodeConversation, encodeConversation } from '../conversations/conversation-record.js';
import type { ConversationStore } from '../conversations/conversation-store.js';
import type { ChatMessage } from './engine.js';

/** What an image costs against the budget, in characters of text (a rough token-equivalent). */
const IMAGE_COST_CHARS = 3000;

/**
 * One conversation: user turns with the frame they asked about, and assistant replies.
 * Only the newest `keepImages` user images are sent again; the oldest turns are dropped once the
 * conversation passes `budgetChars`, so a long conversation stays inside the model's context.
 */
export class ConversationHistory {
  private readonly messages: ChatMessage[] = [];
  /** Called after each turn joins (the conversation store saves it). */
  onChange?: (history: ConversationHistory) => void;

  constructor(
    private readonly options: HistoryOptions,
    restored: readonly ChatMessage[] = [],
  ) {
    this.messages.push(...restored);
    this.dropOldImages();
    this.trim();
  }

  /** A turn (the question and what was actually said back) joins the history. */
  addTurn(question: ChatMessage, answerText: string): void {
    this.messages.push(question);
    if (answerText.trim()) this.messages.push({ role: 'assistant', text: answerText });
    this.dropOldImages();
    this.trim();
    this.onChange?.(this);
  }

  /** Frames older than the newest `keepImages` are never sent again: their JPEGs are let go. */
  private dropOldImages(): void {
    let imagesLeft = this.options.keepImages;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const message = this.messages[i]!;
      if (message.image && imagesLeft-- <= 0) this.messages[i] = { role: message.role, text: message.text };
    }
  }

  /** How many JPEGs the history holds (at most keepImages). */
  get imageCount(): number {
    return this.messages.filter((m) => m.image).length;
  }

  /** The messages to send with the next question, oldest first, images only on recent turns. */
  forModel(): ChatMessage[] {
    let imagesLeft = this.options.keepImages;
    const out: ChatMessage[] = [];
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const message = this.messages[i]!;
      if (message.image && imagesLeft > 0) {
        imagesLeft--;
        out.push(message);
      } else {
        out.push({ role: message.role, text: message.text });
      }
    }
    return out.reverse();
  }

  /** Text only, for the page after a refresh. */
  transcript(): { role: 'user' | 'assistant'; text: string }[] {
    return this.messages.map((m) => ({ role: m.role, text: m.text }));
  }

  get length(): number {
    return this.messages.length;
  }

  private cost(): number {
    let imagesLeft = this.options.keepImages;
    let total = 0;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const message = this.messages[i]!;
      total += message.text.length;
      if (message.image && imagesLeft-- > 0) total += IMAGE_COST_CHARS;
    }
    return total;
  }

  private trim(): void {
    // Drop whole turns (user + assistant) from the front until the rest fits.
    const maxMessages = this.options.maxMessages ?? Infinity;
    while (this.messages.length > 2 && (this.cost() > this.options.budgetChars || this.messages.length > maxMessages)) {
      this.messages.shift();
      if (this.messages[0]?.role === 'assistant') this.messages.shift();
    }
  }
}

export interface HistoryOptions {
  budgetChars: number;
  keepImages: number;
  /** Messages kept per conversation (the oldest whole turns go first). */
  maxMessages?: number;
}

/**
 * Conversations by the page's secret key, kept in a ConversationStore (embedded or Redis) so that a
 * page reconnecting to another worker or machine gets its conversation back; saved after each turn.
 */
export class HistoryStore {
  constructor(
    private readonly store: ConversationStore,
    private readonly options: HistoryOptions & { maxRecordBytes: number },
    private readonly onSaveError: (err: unknown) => void = () => undefined,
  ) {}

  get storeKind(): ConversationStore['kind'] {
    return this.store.kind;
  }

  /** The conversation for `secret` (a strong key: see conversation-key.ts); a new one if none is kept. */
  async open(secret: string): Promise<ConversationHistory> {
    const key = storeKeyFor(secret);
    const record = await this.store.load(key);
    const history = new ConversationHistory(this.options, record ? decodeConversation(record) : []);
    history.onChange = (changed) => {
      const encoded = encodeConversation(changed.forModel(), this.options.maxRecordBytes);
      if (encoded) this.store.save(key, encoded).catch(this.onSaveError);
    };
    return history;
  }

  /** A conversation that is not stored (when the store cannot be reached). */
  fresh(): ConversationHistory {
    return new ConversationHistory(this.options);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
