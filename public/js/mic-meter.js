// Mic level meter: an AnalyserNode on the local mic, RMS → 0..1 into <meter data-testid=mic-level>.

const meter = /** @type {HTMLMeterElement} */ (document.querySelector('[data-testid="mic-level"]'));

/**
 * @param {MediaStreamTrack} micTrack
 * @returns {{ resume(): void; stop(): void }} resume() after a user gesture if autoplay rules suspended audio
 */
export function startMicMeter(micTrack) {
  const context = new AudioContext();
  const source = context.createMediaStreamSource(new MediaStream([micTrack]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  analyser.smoothingTimeConstant = 0.5;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let shown = 0;

  const update = () => {
    analyser.getFloatTimeDomainData(samples);
    let sumOfSquares = 0;
    for (const sample of samples) sumOfSquares += sample * sample;
    const rms = Math.sqrt(sumOfSquares / samples.length);
    // dBFS mapped so that -60 dB → 0 and 0 dB → 1; speech sits around the middle.
    const level = Math.min(1, Math.max(0, (20 * Math.log10(rms + 1e-9) + 60) / 60));
    // Fast attack, slow release, so short syllables stay visible.
    shown = level > shown ? level : shown * 0.85 + level * 0.15;
    meter.value = Number(shown.toFixed(3));
    meter.style.setProperty('--level', String(meter.value));
  };
  // A timer rather than requestAnimationFrame: keeps working when the tab is in the background.
  const timer = setInterval(update, 50);

  return {
    resume() {
      if (context.state === 'suspended') context.resume().catch(() => {});
    },
    stop() {
      clearInterval(timer);
      context.close().catch(() => {});
    },
  };
}
