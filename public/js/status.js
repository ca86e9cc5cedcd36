// Page state (document.body.dataset.state), status line, notice, error and engine banner.
// The server owns ready/listening/thinking/speaking; the page owns connecting and error.

const STATUS_WORDS = {
  connecting: 'Connecting…',
  ready: 'Ready',
  listening: 'Listening…',
  thinking: 'Thinking…',
  speaking: 'Speaking…',
  error: 'Needs attention — see the message above',
};
const SERVER_STATES = new Set(['ready', 'listening', 'thinking', 'speaking']);
const NOTICE_FADE_MS = 8000;

const $ = (testId) => document.querySelector(`[data-testid="${testId}"]`);

const view = {
  statusText: $('status-text'),
  notice: $('notice'),
  error: $('error'),
  engineNote: $('engine-note'),
  stages: $('stages'),
};

const conditions = {
  serverState: 'ready',
  peerConnected: false,
  /** Problems that make the page unusable until fixed, by reason: 'media', 'peer'. */
  fatal: new Set(),
};

let noticeTimer = 0;

function render() {
  const state = conditions.fatal.size > 0 ? 'error' : conditions.peerConnected ? conditions.serverState : 'connecting';
  if (document.body.dataset.state !== state) document.body.dataset.state = state;
  view.statusText.textContent = STATUS_WORDS[state];
}

/** @param {string} state a server state; unknown values are ignored */
export function setServerState(state) {
  if (!SERVER_STATES.has(state)) return;
  conditions.serverState = state;
  render();
}

/** @param {boolean} connected whether the media peer is up */
export function setPeerConnected(connected) {
  conditions.peerConnected = connected;
  if (!connected) conditions.serverState = 'ready';
  render();
}

/** @returns {string} the state the page shows */
export function currentState() {
  return document.body.dataset.state ?? 'connecting';
}

/**
 * Shows an error in words a user understands.
 * @param {string} message
 * @param {{ fatal?: 'media' | 'peer' }} [options] fatal: also hold the page in state `error`
 *   for this reason until clearFatal(reason)
 */
export function showError(message, { fatal } = {}) {
  view.error.textContent = message;
  if (fatal) conditions.fatal.add(fatal);
  render();
}

/** Clears the error text unless a fatal problem is still there. */
export function clearError() {
  if (conditions.fatal.size === 0) view.error.textContent = '';
}

/** @param {'media' | 'peer'} reason the problem that went away */
export function clearFatal(reason) {
  if (!conditions.fatal.delete(reason)) return;
  if (conditions.fatal.size === 0) view.error.textContent = '';
  render();
}

/** @param {string} message a short, transient status line */
export function showNotice(message) {
  view.notice.textContent = message;
  view.notice.classList.remove('faded');
  clearTimeout(noticeTimer);
  // The text stays (tests and screen readers can read it); it only fades from view.
  noticeTimer = window.setTimeout(() => view.notice.classList.add('faded'), NOTICE_FADE_MS);
}

/** @param {string | undefined} note e.g. the offline engine's hint */
export function showEngineNote(engine, note) {
  view.engineNote.dataset.engine = engine ?? '';
  view.engineNote.textContent = note ?? '';
  view.engineNote.hidden = !note;
}

render();

const STAGE_NAMES = { stt: 'Speech-to-text', chat: 'Chat', tts: 'Voice' };

/**
 * Says which provider serves each stage, e.g. "Speech-to-text: OpenAI (api.openai.com, streamed)".
 * @param {Record<string, { provider: string; host: string; model?: string; streaming?: boolean; format?: string }> | undefined} stages
 */
export function showStages(stages) {
  if (!view.stages) return;
  const parts = [];
  for (const [key, label] of Object.entries(STAGE_NAMES)) {
    const stage = stages?.[key];
    if (!stage) continue;
    const details = stage.provider === 'offline' ? ['on this server']
      : [stage.model, stage.host, stage.streaming === true ? 'streamed' : '', stage.format ? `${stage.format} audio` : ''].filter(Boolean);
    const item = document.createElement('span');
    item.dataset.stage = key;
    item.dataset.provider = String(stage.provider);
    item.textContent = `${label}: ${stage.provider === 'openai' ? 'OpenAI-compatible' : 'offline'} (${details.join(', ')})`;
    parts.push(item);
  }
  view.stages.replaceChildren(...parts);
  view.stages.hidden = parts.length === 0;
}
