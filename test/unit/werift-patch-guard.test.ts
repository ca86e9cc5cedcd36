import { Connection, RTCRtpReceiver, RTCRtpSender, RtpHeader } from 'werift';
import { describe, expect, it } from 'vitest';
import '../../server/media/peer.js';
import { checkPatchTargets, sourceShape, WERIFT_VERSION, weriftVersion } from '../../server/media/werift-patch-guard.js';
import { patchedConnect, weriftConnect } from '../../server/media/werift-ice-wait-patch.js';
import { weriftPatchProblem } from '../../server/media/werift-patches.js';
import { patchedSetupTWCC, weriftSetupTWCC } from '../../server/media/werift-transport-cc-patch.js';

describe('werift patch guard', () => {
  it('finds the pinned werift installed and every patch in place', () => {
    expect(weriftVersion()).toBe(WERIFT_VERSION);
    expect(weriftPatchProblem()).toBeUndefined();
    // installed: the replaced functions are ours now
    expect(sourceShape(RtpHeader.deSerialize)).not.toBe('c6fe9c0446fa3aaf');
  });

  it('guards the transport-cc and ICE-wait patches by exact version and the fingerprint of what they replace', () => {
    // the fingerprints the two patches check are werift 0.24.4's own functions
    expect(sourceShape(weriftSetupTWCC)).toBe('7c7ef0fbc96ad930');
    expect(sourceShape(weriftConnect)).toBe('f492921fb411c16a');
    expect((RTCRtpReceiver.prototype as unknown as Record<string, unknown>).setupTWCC).toBe(patchedSetupTWCC);
    expect((Connection.prototype as unknown as Record<string, unknown>).connect).toBe(patchedConnect);
    // a 0.24.x that is not 0.24.4 is refused, as for every other patch
    expect(() =>
      checkPatchTargets('werift-ice-wait-patch', [{ name: 'Connection.prototype.connect', current: weriftConnect, shape: 'f492921fb411c16a' }], {}, '0.24.5'),
    ).toThrow(/"werift-ice-wait-patch".*werift 0\.24\.5 is installed/);
    // and so is a connect() whose source differs, though it still mentions what the old excerpt check looked for
    async function connect(this: { earlyChecks: unknown[]; remoteCandidates: unknown[] }) {
      return [this.earlyChecks, this.remoteCandidates];
    }
    expect(() =>
      checkPatchTargets('werift-ice-wait-patch', [{ name: 'Connection.prototype.connect', current: connect, shape: 'f492921fb411c16a' }], {}, WERIFT_VERSION),
    ).toThrow(/Connection\.prototype\.connect is not the code it replaces/);
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
