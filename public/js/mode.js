// Conversation mode (DESIGN.md "Conversation modes"): push-to-talk or hands-free, shown as
// document.body.dataset.mode, switched by [data-testid=mode-ptt] / [data-testid=mode-handsfree],
// opened by ?mode=hands-free, remembered across reloads. And the "hearing you" indicator, driven
// by the server's VAD events (what the server hears, not the local mic level).

const MODE_KEY = 'webcam-assistant.mode';
const MODES = ['push-to-talk', 'hands-free'];
const HINTS = {
  'push-to-talk': 'Hold <kbd>Space</kbd> to talk · <kbd>Esc</kbd> to cancel',
  'hands-free': 'Just talk — I answer when you pause, and stop when you talk over me · <kbd>Space</kbd> still works · <kbd>Esc</kbd> to cancel',
};

const $ = (testId) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${testId}"]`));

/** @returns {'push-to-talk' | 'hands-free'} the URL's choice, else the remembered one, else push-to-talk */
function initialMode() {
  const fromUrl = new URLSearchParams(location.search).get('mode');
  if (MODES.includes(fromUrl ?? '')) return /** @type {'push-to-talk' | 'hands-free'} */ (fromUrl);
  const saved = localStorage.getItem(MODE_KEY);
  return saved === 'hands-free' ? 'hands-free' : 'push-to-talk';
}

/**
 * @param {(mode: 'push-to-talk' | 'hands-free') => void} onChange called when the user switches
 * @returns {{ mode(): 'push-to-talk' | 'hands-free' }}
 */
export function wireModeSwitch(onChange) {
  let mode = initialMode();
  const show = () => {
    document.body.dataset.mode = mode;
    $('mode-ptt').setAttribute('aria-pressed', String(mode === 'push-to-talk'));
    $('mode-handsfree').setAttribute('aria-pressed', String(mode === 'hands-free'));
    const hint = document.getElementById('talk-hint');
    if (hint) hint.innerHTML = HINTS[mode];
    if (mode !== 'hands-free') showHearing(false);
  };
  const choose = (next) => {
    if (next === mode) return;
    mode = next;
    localStorage.setItem(MODE_KEY, mode);
    show();
    onChange(mode);
  };
  $('mode-ptt').addEventListener('click', () => choose('push-to-talk'));
  $('mode-handsfree').addEventListener('click', () => choose('hands-free'));
  localStorage.setItem(MODE_KEY, mode);
  show();
  return { mode: () => mode };
}

/** @param {boolean} hearing whether the server's VAD hears the user talking */
export function showHearing(hearing) {
  document.body.dataset.hearing = String(hearing);
  const indicator = $('hearing');
  if (indicator) indicator.hidden = !hearing;
}
