/**
 * The hands-free policy on real audio: flite speech as Opus RTP → the controller's own decode,
 * Silero VAD and endpointer → the host's turns. The host here is a small state machine standing
 * in for the session (ready → listening → thinking → speaking).
 */
import opus from '@discordjs/opus';
import { RtpHeader, RtpPacket } from 'werift';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConversationHost, ModeController } from '../../server/conversation/mode-controller.js';
import type { TurnState } from '../../server/protocol.js';
import { labelledSpeech, PCM_RATE } from '../../scripts/lib/speech-pcm.js';

const SETTINGS = { threshold: 0.5, startSpeechMs: 160, endSilenceMs: 640, bargeInMs: 600, preRollMs: 300 };
const FRAME = PCM_RATE / 50;

let question: Int16Array;
let cough: Int16Array;

beforeAll(async () => {
  question = (await labelledSpeech('what am I holding in my hand', 0)).pcm;
  cough = (await labelledSpeech('uh huh', 0)).pcm; // a back-channel: shorter than BARGE_IN_MS
});

class Host implements ConversationHost {
  current: TurnState = 'ready';
  calls: string[] = [];
  state(): TurnState {
    return this.current;
  }
  startTurn(cause: 'speech' | 'barge-in', preRollMs: number): void {
    this.calls.push(`start:${cause}:${preRollMs >= SETTINGS.preRollMs + SETTINGS.startSpeechMs}`);
    this.current = 'listening';
  }
  endTurn(userStoppedMsAgo: number): void {
    this.calls.push(`end:${userStoppedMsAgo >= SETTINGS.endSilenceMs}`);
    this.current = 'thinking';
  }
}

/** Feeds `pcm` (16 kHz) as 20 ms Opus RTP packets, in real time order but as fast as the VAD keeps up. */
async function play(controller: ModeController, pcm: Int16Array, from: { seq: number }): Promise<void> {
  const encoder = new opus.OpusEncoder(PCM_RATE, 1);
  for (let at = 0; at + FRAME <= pcm.length; at += FRAME) {
    const payload = encoder.encode(Buffer.from(pcm.buffer, pcm.byteOffset + at * 2, FRAME * 2));
    const n = from.seq++;
    controller.pushRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: n & 0xffff, timestamp: (n * 960) >>> 0, ssrc: 9 }), payload));
    await new Promise((resolve) => setTimeout(resolve, 1)); // the VAD's batch runs between packets
  }
}
const silence = (ms: number) => new Int16Array((ms * PCM_RATE) / 1000);

describe('ModeController', () => {
  it('push-to-talk: speech takes no turn and decodes nothing', async () => {
    const host = new Host();
    const voices: boolean[] = [];
    const controller = new ModeController({ settings: SETTINGS, host, onVoice: (v) => voices.push(v) });
    await play(controller, question, { seq: 0 });
    await play(controller, silence(1000), { seq: 1000 });
    expect(host.calls).toEqual([]);
    expect(voices).toEqual([]);
    controller.close();
  });

  it('hands-free: speech starts a turn with pre-roll, the pause after it ends it; voice events for the page', async () => {
    const host = new Host();
    const voices: boolean[] = [];
    const controller = new ModeController({ settings: SETTINGS, host, onVoice: (v) => voices.push(v) });
    await controller.setMode('hands-free');
    const seq = { seq: 0 };
    await play(controller, silence(500), seq);
    await play(controller, question, seq);
    await play(controller, silence(1200), seq);
    expect(host.calls).toEqual(['start:speech:true', 'end:true']);
    expect(voices).toEqual([true, false]);
    controller.close();
  });

  it('barge-in: speech longer than bargeInMs over a reply starts a new turn; a short "uh huh" does not', async () => {
    const host = new Host();
    const controller = new ModeController({ settings: SETTINGS, host });
    await controller.setMode('hands-free');
    host.current = 'speaking';
    const seq = { seq: 0 };
    await play(controller, silence(300), seq);
    await play(controller, cough, seq);
    await play(controller, silence(1000), seq);
    expect(host.calls).toEqual([]);
    await play(controller, question, seq);
    expect(host.calls).toEqual(['start:barge-in:true']);
    await play(controller, silence(1000), seq);
    expect(host.calls).toEqual(['start:barge-in:true', 'end:true']);
    controller.close();
  });

  it('a turn started by the key is not ended by silence', async () => {
    const host = new Host();
    const controller = new ModeController({ settings: SETTINGS, host });
    await controller.setMode('hands-free');
    controller.keyTurnStarted();
    host.current = 'listening';
    const seq = { seq: 0 };
    await play(controller, question, seq);
    await play(controller, silence(1500), seq);
    expect(host.calls).toEqual([]);
    controller.close();
  });

  it('a voice turn whose audio stops coming is ended all the same', async () => {
    const host = new Host();
    const controller = new ModeController({ settings: SETTINGS, host });
    await controller.setMode('hands-free');
    await play(controller, question, { seq: 0 }); // and then no packets at all
    expect(host.calls).toEqual(['start:speech:true']);
    await new Promise((resolve) => setTimeout(resolve, SETTINGS.endSilenceMs + 1000));
    expect(host.calls).toEqual(['start:speech:true', 'end:true']);
    controller.close();
  });
});
