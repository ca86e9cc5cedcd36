import { RTCRtpSender, RtpHeader } from 'werift';
import { describe, expect, it } from 'vitest';
import '../../server/media/peer.js';
import { checkPatchTargets, sourceShape, WERIFT_VERSION, weriftVersion } from '../../server/media/werift-patch-guard.js';
import { weriftPatchProblem } from '../../server/media/werift-patches.js';

describe('werift patch guard', () => {
  it('finds the pinned werift installed and every patch in place', () => {
    expect(weriftVersion()).toBe(WERIFT_VERSION);
    expect(weriftPatchProblem()).toBeUndefined();
    // installed: the replaced functions are ours now
    expect(sourceShape(RtpHeader.deSerialize)).not.toBe('c6fe9c0446fa3aaf');
  });

  it('refuses another werift version, naming the patch and what to do', () => {
    expect(() => checkPatchTargets('some-patch', [], {}, '0.24.5')).toThrow(
      /"some-patch".*written for werift 0\.24\.4, but werift 0\.24\.5 is installed.*npm ci/,
    );
  });

  it('refuses when what a patch replaces is not the code it was written for', () => {
    function changed(this: unknown) {
      return 1;
    }
    expect(() =>
      checkPatchTargets('send', [{ name: 'RTCRtpSender.prototype.sendRtp', current: changed, shape: '36ee877c17d4f3b0' }], {}, WERIFT_VERSION),
    ).toThrow(/RTCRtpSender\.prototype\.sendRtp is not the code it replaces/);
    expect(() => checkPatchTargets('send', [{ name: 'gone', current: undefined, shape: 'x' }], {}, WERIFT_VERSION)).toThrow(/not a function/);
    const sender = new RTCRtpSender('audio') as unknown as Record<string, unknown>;
    expect(() => checkPatchTargets('send', [], { 'RTCRtpSender.seqOffset': sender.noSuchField }, WERIFT_VERSION)).toThrow(
      /no longer has the field RTCRtpSender\.seqOffset/,
    );
  });
});
