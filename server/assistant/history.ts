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

  constructor(private readonly options: HistoryOptions) {}

  /** A turn (the question and what was actually said back) joins the history. */
  addTurn(question: ChatMessage, answerText: string): void {
    this.messages.push(question);
    if (answerText.trim()) this.messages.push({ role: 'assistant', text: answerText });
    this.dropOldImages();
    this.trim();
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

/** Conversations by page session id, so a refresh restores them; never shared between ids. */
export class HistoryStore {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly byId = new Map<string, { history: ConversationHistory; usedAt: number }>();

  constructor(
    private readonly options: HistoryOptions & {
      maxConversations?: number;
      /** A conversation unused this long is forgotten. */
      idleMs?: number;
      now?: () => number;
    },
  ) {}

  get(sessionId: string): ConversationHistory {
    const now = (this.options.now ?? Date.now)();
    this.forgetIdle(now);
    const history = this.byId.get(sessionId)?.history ?? new ConversationHistory(this.options);
    this.byId.delete(sessionId);
    this.byId.set(sessionId, { history, usedAt: now });
    const max = this.options.maxConversations ?? 1000;
    while (this.byId.size > max) this.byId.delete(this.byId.keys().next().value!);
    return history;
  }

  get size(): number {
    return this.byId.size;
  }

  private forgetIdle(now: number): void {
    const idleMs = this.options.idleMs ?? Infinity;
    for (const [id, entry] of this.byId) {
      if (now - entry.usedAt <= idleMs) break; // use order: the rest are newer
      this.byId.delete(id);
    }
  }
}
