// The conversation log: one direct child of [data-testid=log] per message, with
// data-role="user" | "assistant". An assistant message's text lives in its `.md` child
// (rendered markdown); the timing waterfall next to it has no text nodes.
import { renderMarkdown, enableCopyButtons } from './markdown.js';
import { buildWaterfall } from './waterfall.js';

const log = /** @type {HTMLElement} */ (document.querySelector('[data-testid="log"]'));
enableCopyButtons(log);

/** @type {Map<string, { element: HTMLElement; body: HTMLElement; text: string }>} */
const replies = new Map();

/** Keeps the newest message in view, unless the user scrolled up to read. */
function appendMessage(element) {
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  log.append(element);
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

function keepScrolled(element) {
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 160;
  if (nearBottom && element.isConnected) log.scrollTop = log.scrollHeight;
}

function userElement(text, turnId) {
  const element = document.createElement('div');
  element.dataset.role = 'user';
  if (turnId) element.dataset.turnId = turnId;
  element.textContent = text;
  return element;
}

function assistantElement(turnId) {
  const element = document.createElement('div');
  element.dataset.role = 'assistant';
  if (turnId) element.dataset.turnId = turnId;
  const body = document.createElement('div');
  body.className = 'md';
  element.append(body);
  return { element, body, text: '' };
}

/** @param {string} turnId */
function replyFor(turnId) {
  let reply = replies.get(turnId);
  if (!reply) {
    reply = assistantElement(turnId);
    replies.set(turnId, reply);
    appendMessage(reply.element);
  }
  return reply;
}

/**
 * Replaces the whole log with the server's history (on every (re)connect).
 * @param {{ role: 'user' | 'assistant'; text: string }[]} history
 */
export function showHistory(history) {
  replies.clear();
  partialUser = null;
  const elements = [];
  for (const message of Array.isArray(history) ? history : []) {
    if (message?.role === 'user') {
      elements.push(userElement(String(message.text ?? '')));
    } else if (message?.role === 'assistant') {
      const reply = assistantElement();
      renderMarkdown(reply.body, String(message.text ?? ''));
      reply.element.dataset.done = 'true';
      elements.push(reply.element);
    }
  }
  log.replaceChildren(...elements);
  log.scrollTop = log.scrollHeight;
}

/** The question being spoken (streamed STT): a user message whose text grows while Space is held. */
let partialUser = null;

/**
 * @param {{ text: string }} partial the question so far; '' drops it
 */
export function showPartialUserTurn({ text }) {
  const words = String(text ?? '');
  if (!words) return dropPartialUserTurn();
  if (!partialUser) {
    partialUser = userElement('');
    partialUser.dataset.partial = 'true';
    appendMessage(partialUser);
  }
  partialUser.textContent = words;
  keepScrolled(partialUser);
}

/** Removes a partial question that never became a turn (nothing heard, cancelled). */
export function dropPartialUserTurn() {
  partialUser?.remove();
  partialUser = null;
}

/** @param {{ turnId: string; text: string }} turn */
export function addUserTurn({ turnId, text }) {
  const element = partialUser;
  partialUser = null;
  if (element?.isConnected) {
    // The streamed words become the message: the final transcript replaces them in place.
    element.textContent = String(text ?? '');
    element.dataset.turnId = String(turnId);
    delete element.dataset.partial;
    return;
  }
  appendMessage(userElement(String(text ?? ''), turnId));
}

/** @param {{ turnId: string; text: string }} delta */
export function addAssistantDelta({ turnId, text }) {
  const reply = replyFor(String(turnId));
  if (reply.element.dataset.done === 'true') return;
  reply.text += String(text ?? '');
  renderMarkdown(reply.body, reply.text);
  keepScrolled(reply.element);
}

/**
 * @param {{ turnId: string; text: string; cancelled?: boolean; latencyMs?: number;
 *   timeline?: { label: string; atMs: number }[] }} done
 */
export function finishAssistantTurn({ turnId, text, cancelled, latencyMs, timeline }) {
  const reply = replyFor(String(turnId));
  // A cancelled turn may come back with no text: keep what was already shown.
  const keepStreamed = cancelled && !text;
  if (typeof text === 'string' && text !== reply.text && !keepStreamed) {
    reply.text = text;
    renderMarkdown(reply.body, reply.text);
  }
  if (cancelled) reply.element.dataset.cancelled = 'true';
  if (Number.isFinite(latencyMs)) reply.element.dataset.latencyMs = String(Math.round(latencyMs));
  reply.element.querySelector(':scope > .waterfall')?.remove();
  const waterfall = buildWaterfall(timeline, latencyMs);
  if (waterfall) reply.element.append(waterfall);
  reply.element.dataset.done = 'true';
  keepScrolled(reply.element);
}
