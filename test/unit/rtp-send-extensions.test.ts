import { afterEach, describe, expect, it, vi } from 'vitest';
import { RtpHeader, RTP_EXTENSION_URI, ntpTime, serializeAbsSendTime, serializeTransportWideCC, uint32Add as weriftUint32Add } from 'werift';
import { absSendTime, buildExtensions, ntpNow, transportWideCc, uint32Add } from '../../server/media/rtp-send-extensions.js';

/** Runs fn with performance.timeOrigin and performance.now() fixed, as werift's ntpTime() reads them. */
function atTime<T>(timeOrigin: number, now: number, fn: () => T): T {
  Object.defineProperty(performance, 'timeOrigin', { value: timeOrigin, configurable: true });
  const spy = vi.spyOn(performance, 'now').mockReturnValue(now);
  try {
    return fn();
  } finally {
    spy.mockRestore();
    delete (performance as { timeOrigin?: number }).timeOrigin;
  }
}

const outcome = (fn: () => unknown) => {
  try {
    return { value: fn() };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
};

describe('RTP send header extensions', () => {
  afterEach(() => vi.restoreAllMocks());

  it("ntpNow gives werift's ntpTime() (and its abs-send-time) at any time, odd ones included", () => {
    const epoch = Date.UTC(1900, 0, 1);
    const times: [number, number][] = [];
    let state = 7;
    const random = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 3000; i++) times.push([performance.timeOrigin, random() * 1e10]); // fractions of every length
    for (let i = 0; i < 200; i++) times.push([0, Math.floor(random() * 1e12) * 1000 - epoch]); // whole seconds: no '.'
    for (let i = 0; i < 200; i++) times.push([0, Math.floor(random() * 1e12) + 0.5 - epoch]); // one digit after the point
    times.push([0, -epoch + 1e-4], [0, -epoch - 5000], [0, 2 ** 33 * 1000 - epoch], [0, 1e24], [0, Number.NaN]); // tiny, negative, past 2106, exponent, NaN
    let fallbacks = 0;
    for (const [origin, now] of times) {
      const theirs = atTime(origin, now, () => outcome(() => ntpTime()));
      const ours = atTime(origin, now, () => outcome(() => ntpNow()));
      if ('error' in theirs) {
        expect(ours, `${origin} + ${now}`).toEqual(theirs);
        fallbacks++;
        continue;
      }
      const mine = ours.value as ReturnType<typeof ntpNow>;
      expect(mine.value, `${origin} + ${now}`).toBe(theirs.value);
      expect(BigInt(mine.high) * 2n ** 32n + BigInt(mine.low)).toBe(theirs.value);
      expect(absSendTime(mine)).toEqual(serializeAbsSendTime(theirs.value as bigint));
    }
    expect(fallbacks).toBeGreaterThanOrEqual(3); // negative, past 2106 and exponent notation throw in werift too
  });

  it('ntpNow is the current time, in whole seconds since 1900', () => {
    const seconds = (Date.now() - Date.UTC(1900, 0, 1)) / 1000;
    expect(Math.abs(ntpNow().high - seconds)).toBeLessThan(2);
  });

  it("transport-wide sequence numbers and uint32Add are werift's", () => {
    for (let n = 0; n < 0x10000; n += 7) expect(transportWideCc(n)).toEqual(serializeTransportWideCC(n));
    const values = [0, 1, 959, 960, 0xffff, 0x7fffffff, 0x80000000, 0xfffffc40, 0xffffffff, 2 ** 32, 2 ** 40 + 3, -1, -960, -(2 ** 33), 2 ** 53 - 1, 2 ** 53, 1.5, Number.NaN];
    for (const a of values) {
      for (const b of values) expect(outcome(() => uint32Add(a, b)), `${a} + ${b}`).toEqual(outcome(() => weriftUint32Add(a, b)));
    }
  });

  it('buildExtensions merges a packet’s own extensions and sorts by id as werift does', () => {
    const sender = {
      headerExtensions: [
        { id: 3, uri: RTP_EXTENSION_URI.transportWideCC },
        { id: 1, uri: RTP_EXTENSION_URI.sdesMid },
        { id: 2, uri: RTP_EXTENSION_URI.absSendTime },
        { id: 9, uri: RTP_EXTENSION_URI.sdesRTPStreamID }, // no rid set: left out
        { id: 7, uri: 'urn:example:unknown' },
      ],
      mid: '1',
      dtlsTransport: { transportSequenceNumber: 0xffff },
    };
    const own = [
      { id: 5, payload: Buffer.from([5]) },
      { id: 1, payload: Buffer.from('x') }, // replaces the MID's payload
      { id: 5, payload: Buffer.from([6]) }, // replaces the first id 5 (werift mutates that object)
      { id: 4, payload: Buffer.from([4, 4]) },
    ];
    const header = new RtpHeader({ extensions: own });
    const ntp = { high: 0x1234_5678, low: 0x9abc_def0, value: 0x1234_5678_9abc_def0n };
    const result = buildExtensions(sender, header, ntp);
    expect(sender.dtlsTransport.transportSequenceNumber).toBe(0);
    expect(result.map((e) => [e.id, e.payload.toString('hex')])).toEqual([
      [1, '78'],
      [2, serializeAbsSendTime(ntp.value).toString('hex')],
      [3, '0000'],
      [4, '0404'],
      [5, '06'],
    ]);
    expect(own[0]!.payload).toEqual(Buffer.from([6]));
    expect(header.extensions).toBe(own); // the caller's array is not changed
  });
});
