// A small timing waterfall for one reply: one row per timeline mark, a bar from the previous
// mark to this one. All visible words come from CSS `attr()` so the message's textContent
// stays the message; the accessible name lists every mark.

/**
 * @param {{ label: string; atMs: number }[] | undefined} timeline
 * @param {number | undefined} latencyMs
 * @returns {HTMLElement | null}
 */
export function buildWaterfall(timeline, latencyMs) {
  const marks = Array.isArray(timeline)
    ? timeline
        .filter((mark) => mark && typeof mark.label === 'string' && Number.isFinite(mark.atMs))
        .slice()
        .sort((a, b) => a.atMs - b.atMs)
    : [];
  const hasLatency = Number.isFinite(latencyMs);
  if (marks.length === 0 && !hasLatency) return null;

  const figure = document.createElement('div');
  figure.className = 'waterfall';
  figure.setAttribute('role', 'img');
  const spoken = marks.map((mark) => `${mark.label} ${Math.round(mark.atMs)} ms`);
  if (hasLatency) spoken.unshift(`latency ${Math.round(latencyMs)} ms`);
  figure.setAttribute('aria-label', `Timing: ${spoken.join(', ')}`);

  if (hasLatency) {
    const header = document.createElement('div');
    header.className = 'wf-latency';
    header.dataset.ms = String(Math.round(latencyMs));
    header.title = 'Time from the end of your turn (releasing the key, or the pause that ended it) to the first sound';
    figure.append(header);
  }

  // Marks before the end of the turn (hands-free: when the user stopped speaking) are negative.
  const originMs = Math.min(0, ...marks.map((mark) => mark.atMs));
  const spanMs = Math.max(1, ...marks.map((mark) => mark.atMs)) - originMs;
  let previousMs = originMs;
  for (const mark of marks) {
    const row = document.createElement('div');
    row.className = 'wf-row';
    row.dataset.label = mark.label;
    row.dataset.ms = String(Math.round(mark.atMs));
    row.title = `${mark.label}: ${Math.round(mark.atMs)} ms (+${Math.round(mark.atMs - previousMs)} ms)`;
    const track = document.createElement('span');
    track.className = 'wf-track';
    const bar = document.createElement('span');
    bar.className = 'wf-bar';
    bar.style.left = `${((previousMs - originMs) / spanMs) * 100}%`;
    bar.style.width = `max(2px, ${((mark.atMs - previousMs) / spanMs) * 100}%)`;
    track.append(bar);
    row.append(track);
    figure.append(row);
    previousMs = mark.atMs;
  }
  return figure;
}
