import type { RtpPacket } from 'werift';

const RTP_CLOCK_RATE = 48_000; // RFC 7587: Opus RTP counts 48 kHz ticks

/**
 * The last few hundred ms of mic RTP, kept undecoded (a few KB), so a turn can start with the
 * audio from just before it was started: before the key press in push-to-talk, before the
 * speech-start decision in hands-free. Replayed into the recorder, which places packets by
 * timestamp and decodes them like live ones.
 */
export class RtpPreRoll {
  private readonly packets: RtpPacket[] = [];
  private readonly keepTicks: number;

  constructor(keepMs: number) {
    this.keepTicks = Math.round((keepMs * RTP_CLOCK_RATE) / 1000);
  }

  push(rtp: RtpPacket): void {
    this.packets.push(rtp);
    const newest = rtp.header.timestamp;
    let drop = 0;
    while (drop < this.packets.length && ticksBetween(this.packets[drop]!.header.timestamp, newest) > this.keepTicks) drop++;
    if (drop > 0) this.packets.splice(0, drop);
  }

  /** Packets of the last `ms` of media (by RTP timestamp, relative to the newest), oldest first. */
  lastMs(ms: number): RtpPacket[] {
    const newest = this.packets.at(-1)?.header.timestamp;
    if (newest === undefined) return [];
    const ticks = Math.round((ms * RTP_CLOCK_RATE) / 1000);
    return this.packets.filter((p) => ticksBetween(p.header.timestamp, newest) <= ticks);
  }

  clear(): void {
    this.packets.length = 0;
  }
}

/** Ticks from `older` to `newer`, wrap-aware; a packet newer than `newer` (reordered) counts as 0. */
function ticksBetween(older: number, newer: number): number {
  const ticks = (newer - older) >>> 0;
  return ticks >= 2 ** 31 ? 0 : ticks;
}
