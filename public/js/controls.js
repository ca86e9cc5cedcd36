// Input: hold Space or the talk button to talk; Space while the assistant thinks/speaks, Escape
// or the cancel button to cancel; the typed-question form; the camera/screen buttons.

const $ = (testId) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${testId}"]`));

/** @param {EventTarget | null} target */
function isTextField(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['button', 'submit', 'reset', 'checkbox', 'radio', 'range', 'color', 'file'].includes(target.type);
  }
  return false;
}

/**
 * @param {{
 *   talkStart(): void; talkStop(): void; cancel(): void; sendText(text: string): void;
 *   switchSource(kind: 'camera' | 'screen'): void; currentState(): string; onGesture(): void;
 * }} actions
 */
export function wireControls(actions) {
  const talkButton = $('talk');
  /** What is holding the talk: 'space' | 'pointer' | 'key' | null. */
  let heldBy = null;
  /** Space pressed to cancel: its keyup must not end anything. */
  let spaceCancelled = false;

  const busy = () => ['thinking', 'speaking'].includes(actions.currentState());

  const press = (by) => {
    actions.onGesture();
    if (heldBy) return;
    if (busy()) {
      actions.cancel(); // barge-in: the press stops the reply; the next press talks
      return 'cancelled';
    }
    heldBy = by;
    talkButton.setAttribute('aria-pressed', 'true');
    actions.talkStart();
    return 'talking';
  };
  const release = (by) => {
    if (heldBy !== by) return;
    heldBy = null;
    talkButton.setAttribute('aria-pressed', 'false');
    actions.talkStop();
  };
  /** Drops a hold without sending talk:stop (after cancel, or when the connection went away). */
  const forget = () => {
    heldBy = null;
    talkButton.setAttribute('aria-pressed', 'false');
  };

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      actions.onGesture();
      if (heldBy) forget();
      actions.cancel();
      return;
    }
    if (event.code !== 'Space' && event.key !== ' ') return;
    if (isTextField(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault(); // no page scroll, no button activation
    if (event.repeat) return;
    spaceCancelled = press('space') === 'cancelled';
  });
  document.addEventListener('keyup', (event) => {
    if (event.code !== 'Space' && event.key !== ' ') return;
    if (heldBy !== 'space' && !spaceCancelled) return;
    event.preventDefault();
    spaceCancelled = false;
    release('space');
  });
  // Releasing the key in another window never reaches us: end the talk when focus leaves.
  window.addEventListener('blur', () => {
    if (heldBy) release(heldBy);
  });

  talkButton.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    talkButton.focus();
    if (press('pointer') === 'talking') talkButton.setPointerCapture?.(event.pointerId);
  });
  for (const type of ['pointerup', 'pointercancel', 'lostpointercapture', 'pointerleave']) {
    talkButton.addEventListener(type, () => release('pointer'));
  }
  talkButton.addEventListener('contextmenu', (event) => event.preventDefault());
  // Enter holds too (Space is handled by the document listener above).
  talkButton.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    if (!event.repeat) press('key');
  });
  talkButton.addEventListener('keyup', (event) => {
    if (event.key === 'Enter') release('key');
  });

  $('cancel').addEventListener('click', () => {
    actions.onGesture();
    if (heldBy) forget();
    actions.cancel();
  });

  const input = /** @type {HTMLInputElement} */ ($('text-input'));
  $('text-form').addEventListener('submit', (event) => {
    event.preventDefault();
    actions.onGesture();
    const text = input.value.trim();
    if (!text) return;
    actions.sendText(text);
    input.value = '';
  });

  $('source-camera').addEventListener('click', () => actions.switchSource('camera'));
  $('source-screen').addEventListener('click', () => actions.switchSource('screen'));

  return { forget };
}

/** @param {'camera' | 'screen'} source */
export function showSource(source) {
  $('source-camera').setAttribute('aria-pressed', String(source === 'camera'));
  $('source-screen').setAttribute('aria-pressed', String(source === 'screen'));
  $('source-label').textContent = source === 'screen' ? 'Screen' : 'Camera';
  const frame = $('preview').parentElement;
  if (frame) frame.dataset.source = source;
}
