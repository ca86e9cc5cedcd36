// Microphone and camera pickers: the devices enumerateDevices lists (labels once permission is
// given), the choice remembered across reloads and applied with replaceTrack (no renegotiation).

const KEYS = { audioinput: 'webcam-assistant.micId', videoinput: 'webcam-assistant.cameraId' };

const $ = (testId) => /** @type {HTMLSelectElement} */ (document.querySelector(`[data-testid="${testId}"]`));

/** @param {'audioinput' | 'videoinput'} kind @returns {string | null} the remembered device id */
export function rememberedDevice(kind) {
  return localStorage.getItem(KEYS[kind]);
}

/**
 * Fills both pickers and calls `choose(kind, deviceId)` when the user picks another device.
 * @param {{ currentId(kind: 'audioinput' | 'videoinput'): string | undefined;
 *           choose(kind: 'audioinput' | 'videoinput', deviceId: string): Promise<void> }} actions
 */
export function wireDevicePickers(actions) {
  const pickers = { audioinput: $('mic-select'), videoinput: $('camera-select') };
  const fill = async () => {
    const devices = await navigator.mediaDevices?.enumerateDevices?.().catch(() => []) ?? [];
    for (const kind of /** @type {const} */ (['audioinput', 'videoinput'])) {
      const picker = pickers[kind];
      if (!picker) continue;
      const ofKind = devices.filter((device) => device.kind === kind && device.deviceId);
      const options = ofKind.map((device, index) => {
        const option = document.createElement('option');
        option.value = device.deviceId;
        option.textContent = device.label || `${kind === 'audioinput' ? 'Microphone' : 'Camera'} ${index + 1}`;
        return option;
      });
      picker.replaceChildren(...options);
      const current = actions.currentId(kind);
      if (current) picker.value = current;
      picker.disabled = options.length < 2;
    }
  };
  for (const kind of /** @type {const} */ (['audioinput', 'videoinput'])) {
    pickers[kind]?.addEventListener('change', async () => {
      const deviceId = pickers[kind].value;
      try {
        await actions.choose(kind, deviceId);
        localStorage.setItem(KEYS[kind], deviceId);
      } catch (error) {
        console.warn('could not switch device', error);
        void fill();
      }
    });
  }
  navigator.mediaDevices?.addEventListener?.('devicechange', () => void fill());
  return { refresh: fill };
}
