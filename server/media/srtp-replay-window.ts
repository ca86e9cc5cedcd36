/**
 * RFC 3711 §3.3.2 replay list as a 64-packet sliding window (the size the RFC recommends):
 * a packet index already seen, or older than the window, is refused. The window moves only once
 * a packet has been authenticated (`accept`), so a forged packet cannot push it. Two 32-bit words
 * instead of a BigInt, so the per-packet check allocates nothing.
 */
export class ReplayWindow {
  static readonly SIZE = 64;
  private highest = -1;
  /** Bit d set: index `highest - d` was received. */
  private low = 0;
  private high = 0;

  /** True when `index` may be a fresh packet (not replayed, not too old). */
  allows(index: number): boolean {
    if (this.highest < 0 || index > this.highest) return true;
    const delta = this.highest - index;
    return delta < ReplayWindow.SIZE && !this.seen(delta);
  }

  /** Records an authenticated packet. */
  accept(index: number): void {
    if (index > this.highest) {
      this.shift(this.highest < 0 ? ReplayWindow.SIZE : index - this.highest);
      this.highest = index;
      this.low |= 1;
      return;
    }
    const delta = this.highest - index;
    if (delta < 32) this.low = (this.low | (1 << delta)) >>> 0;
    else if (delta < 64) this.high = (this.high | (1 << (delta - 32))) >>> 0;
  }

  private seen(delta: number): boolean {
    return delta < 32 ? ((this.low >>> delta) & 1) === 1 : ((this.high >>> (delta - 32)) & 1) === 1;
  }

  private shift(by: number): void {
    if (by >= 64) {
      this.low = 0;
      this.high = 0;
    } else if (by >= 32) {
      this.high = by === 32 ? this.low : (this.low << (by - 32)) >>> 0;
      this.low = 0;
    } else if (by > 0) {
      this.high = ((this.high << by) | (this.low >>> (32 - by))) >>> 0;
      this.low = (this.low << by) >>> 0;
    }
  }
}

/** One window per SSRC, for one direction of one SRTP session. */
export class ReplayWindows {
  private readonly bySsrc = new Map<number, ReplayWindow>();
  /** Bounds the map for a peer that invents SSRCs. */
  private static readonly MAX_SSRCS = 64;

  allows(ssrc: number, index: number): boolean {
    return this.bySsrc.get(ssrc)?.allows(index) ?? true;
  }

  accept(ssrc: number, index: number): void {
    let window = this.bySsrc.get(ssrc);
    if (!window) {
      if (this.bySsrc.size >= ReplayWindows.MAX_SSRCS) this.bySsrc.delete(this.bySsrc.keys().next().value!);
      window = new ReplayWindow();
      this.bySsrc.set(ssrc, window);
    }
    window.accept(index);
  }
}
