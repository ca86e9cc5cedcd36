import { randomInt } from 'node:crypto';
import type { RtpPacket } from 'werift';
import { EngineError, LIVE_SAMPLE_RATE, type AssistantEngine, type FrameImage, type SpeechToSpeechCall } from './assistant/engine.js';
import type { ConversationHistory } from './assistant/history.js';
import type { Settings } from './config.js';
import type { Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import { MediaPeer, type VideoCodecName } from './media/peer.js';
import { MicRecorder } from './media/mic-recorder.js';
import { RtpPreRoll } from './media/rtp-pre-roll.js';
import { ModeController, type ConversationMode } from './conversation/mode-controller.js';
import { BargeInStopwatch } from './conversation/barge-in-stopwatch.js';
import { MicPcmStream } from './media/mic-pcm-stream.js';
import { VideoFrameBuffer, type EncodedFrame, type VideoCodec } from './media/video-frames.js';
import { snapshotJpeg } from './media/frame-snapshot.js';
import { PacedOpusSender } from './media/rtp-sender.js';
import type { Emit, TurnState, VideoSource } from './protocol.js';
import { LiveTranscript } from './live-transcript.js';
import { SpeechPlayback } from './speech-playback.js';
import { TurnTimeline } from './timeline.js';
import { Turn, type TurnInput } from './turn.js';
import { RealtimeTurn, type RealtimeTurnInput } from './realtime-turn.js';
import { RealtimeHandsFree } from './realtime-hands-free.js';

/** While Space is held the engine's connections are kept warm (idle ones close after 3–4 s). */
const PREWARM_INTERVAL_WHILE_LISTENING_MS = 1000;
/** Mic RTP kept undecoded: the pre-roll plus the longest speech a start decision waits for. */
const PRE_ROLL_KEEP_MS = 2500;

/** The first keyframe after a talk start, and its codec; empty until it arrives. */
interface TalkKeyframe {
  frame?: EncodedFrame;
  codec?: VideoCodec;
}

export interface SessionDeps {
  engine: AssistantEngine;
  settings: Settings;
  logger: Logger;
  metrics: ServerMetrics;
  emit: Emit;
  /** A local voice for speaking errors aloud; it must not depend on the engine that failed. */
  errorVoice?: (sentence: string, signal: AbortSignal) => AsyncIterable<Buffer>;
}

/**
 * One browser call and its turn state machine: ready → listening → thinking → speaking → ready.
 * Owns the peer, the mic recorder, the video frame buffer and the paced speech sender.
 */
export class Session {
  readonly peer: MediaPeer;
  private readonly mic: MicRecorder;
  private readonly preRoll = new RtpPreRoll(PRE_ROLL_KEEP_MS);
  /** Push-to-talk or hands-free: who decides when a turn starts and ends. */
  readonly conversation: ModeController;
  private readonly bargeIn = new BargeInStopwatch();
  /** Streamed transcription while Space is held (STT_STREAMING), beside the recorder. */
  private readonly live?: LiveTranscript;
  /** Speech-to-speech (ASSISTANT_ENGINE=realtime): the call's conversation, and the mic at 24 kHz into it while listening. */
  private readonly call?: SpeechToSpeechCall;
  private readonly callMic?: MicPcmStream;
  /** Hands-free on the speech-to-speech engine: the Realtime server's turn detection, not ours. */
  private serverTurns?: RealtimeHandsFree;
  private serverTurnsOn = false;
  private video?: VideoFrameBuffer;
  private readonly sender: PacedOpusSender;
  private state: TurnState = 'ready';
  private source: VideoSource = 'camera';
  private history?: ConversationHistory;
  private turn?: Turn | RealtimeTurn;
  private turnCount = 0;
  private closed = false;
  private spokenError?: AbortController;
  private prewarmTimer?: NodeJS.Timeout;
  /**
   * The listening turn's still: the first keyframe after its talk-start keyframe request (PLI).
   * Filled when that keyframe arrives, possibly just after release; a voice turn's snapshot is
   * decoded from it alone.
   */
  private talkKeyframe?: TalkKeyframe;
  private holdTimer?: NodeJS.Timeout;

  constructor(private readonly deps: SessionDeps) {
    const { settings, metrics } = deps;
    deps.engine.prewarm?.();
    this.peer = new MediaPeer({
      onMicRtp: (rtp) => {
        this.preRoll.push(rtp);
        this.mic.pushRtp(rtp);
        this.live?.pushRtp(rtp);
        this.conversation.pushRtp(rtp);
        this.callMic?.pushRtp(rtp);
      },
      onVideoRtp: (rtp, codec) => this.onVideoRtp(rtp, codec),
      onStateChange: (state) => {
        deps.logger.debug({ peer: state }, 'peer state');
        if (state === 'connected') this.sender.start();
        if (state === 'failed' && !this.closed) {
          deps.emit('rtc:failed', { message: 'The media connection to the server failed (no network path for audio and video was found).' });
        }
      },
    }, {
      ...(settings.ICE_SERVERS ? { iceServers: settings.ICE_SERVERS } : {}),
      ...(settings.ICE_PORT_RANGE ? { portRange: settings.ICE_PORT_RANGE } : {}),
      ...(settings.ICE_PUBLIC_IP ? { publicIp: settings.ICE_PUBLIC_IP } : {}),
    });
    this.mic = new MicRecorder({
      maxHoldMs: settings.MAX_HOLD_SECONDS * 1000,
      onMaxHold: () => this.cutLongHold(),
    });
    this.conversation = new ModeController({
      settings: {
        threshold: settings.VAD_THRESHOLD,
        startSpeechMs: settings.VAD_START_MS,
        endSilenceMs: settings.VAD_END_SILENCE_MS,
        bargeInMs: settings.BARGE_IN_MS,
        preRollMs: settings.PRE_ROLL_MS,
      },
      host: {
        state: () => this.state,
        startTurn: (cause, preRollMs) => {
          if (cause === 'barge-in') this.bargeIn.decided();
          this.beginListening(preRollMs);
        },
        endTurn: (userStoppedMsAgo) => this.endListening(new TurnTimeline(performance.now(), { userStoppedMsAgo })),
      },
      onVoice: (speaking) => deps.emit('vad', { speaking }),
      onError: (err) => deps.logger.warn({ err }, 'voice-activity detection failed; hands-free is off for this call'),
    });
    const speechToSpeech = deps.engine.speechToSpeech;
    if (speechToSpeech) {
      const shown = new Set<string>();
      this.call = speechToSpeech.openCall(({ open, error }) => {
        if (open || !error) return;
        deps.logger.warn({ err: error, kind: error.kind }, 'realtime connection lost or refused; reopening with backoff');
        // A refusal the user can act on is shown once, before they ask anything.
        if (['auth', 'not_found', 'unavailable'].includes(error.kind) && !shown.has(error.userMessage)) {
          shown.add(error.userMessage);
          deps.emit('session:error', { kind: error.kind, message: error.userMessage });
        }
      });
      this.callMic = new MicPcmStream({
        sampleRate: LIVE_SAMPLE_RATE,
        onPcm: (pcm) => {
          this.serverTurns?.heard();
          this.call?.appendAudio(pcm);
        },
      });
      this.serverTurns = this.realtimeHandsFree();
    }
    const liveTranscriber = speechToSpeech ? undefined : deps.engine.transcriber.openLive?.();
    if (liveTranscriber) {
      this.live = new LiveTranscript({
        transcriber: liveTranscriber,
        onPartial: (text) => deps.emit('turn:partial', { text }),
        onError: (err) => deps.logger.warn({ err }, 'streamed transcription could not start; the turn will be uploaded'),
      });
    }
    this.sender = new PacedOpusSender({
      send: (rtp) => this.peer.speechTrack.writeRtp(rtp),
      payloadType: 111,
      ssrc: randomInt(1, 2 ** 31),
      onPacketSent: ({ silence, lateByMs }) => {
        (silence ? metrics.silencePacketsSent : metrics.speechPacketsSent).inc();
        if (lateByMs > 5) metrics.rtpPacketsLate.inc();
        const stopped = this.bargeIn.packetSent(silence);
        if (stopped) deps.logger.info({ bargeIn: stopped }, 'barge-in stopped the reply');
        if (!silence && this.turn && !this.turn.timeline.has('firstRtp')) {
          this.turn.timeline.mark('firstRtp');
          if (this.state === 'thinking') this.setState('speaking');
        }
      },
    });
  }

  /** The page's conversation (restored by session id after a refresh). */
  attachHistory(history: ConversationHistory): void {
    this.history = history;
    this.call?.remember(history.transcript());
  }

  async answerOffer(sdp: unknown): Promise<string> {
    return this.peer.answer(sdp);
  }

  /** Key pressed (Space or the talk button), in either mode. */
  talkStart(): void {
    if (this.closed || this.state === 'listening') return;
    this.conversation.keyTurnStarted();
    this.beginListening(this.deps.settings.PRE_ROLL_MS);
  }

  /** Hands-free: the page's mode switch. Resolves once the mode is in force. */
  setMode(mode: ConversationMode): Promise<void> {
    if (!this.call) return this.conversation.setMode(mode);
    const on = mode === 'hands-free';
    if (on !== this.serverTurnsOn) {
      this.serverTurnsOn = on;
      this.serverTurns!.stop();
      this.call.setTurnDetection(on ? this.serverTurns!.detection : null);
      if (on) this.callMic!.start(); // appended all along: the server hears every word
      else if (this.state !== 'listening') this.callMic!.stop();
    }
    return Promise.resolve();
  }

  private realtimeHandsFree(): RealtimeHandsFree {
    const { settings, emit } = this.deps;
    return new RealtimeHandsFree(
      {
        threshold: settings.VAD_THRESHOLD,
        prefixPaddingMs: settings.PRE_ROLL_MS,
        endSilenceMs: settings.VAD_END_SILENCE_MS,
        bargeInMs: settings.BARGE_IN_MS,
        minSpeechMs: settings.MIN_SPEECH_MS,
      },
      {
        state: () => this.state,
        onVoice: (speaking) => emit('vad', { speaking }),
        listening: () => this.setState('listening'),
        bargeIn: () => {
          this.bargeIn.decided();
          this.cancel();
        },
        answer: (itemId) => {
          if (this.closed) return;
          this.setState('thinking');
          void this.runTurn({ kind: 'committed', itemId }, new TurnTimeline());
        },
        drop: (itemId) => this.call?.dropItem(itemId),
        idle: () => this.setState('ready'),
        appendSilence: (ms) => this.call?.appendAudio(new Int16Array(Math.round((LIVE_SAMPLE_RATE * ms) / 1000))),
      },
    );
  }

  /** Starts a turn with the last `preRollMs` of mic audio first (speech from before the start). */
  private beginListening(preRollMs: number): void {
    if (this.closed || this.state === 'listening') return;
    this.cancel(); // barge-in: talking over the assistant (or a spoken error) stops it
    this.armTalkKeyframe();
    clearInterval(this.prewarmTimer);
    this.deps.engine.prewarm?.();
    this.prewarmTimer = setInterval(() => this.deps.engine.prewarm?.(), PREWARM_INTERVAL_WHILE_LISTENING_MS);
    // The recorder cuts at the limit in media time; this catches a hold whose audio stopped coming.
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => this.cutLongHold(), this.deps.settings.MAX_HOLD_SECONDS * 1000 + 1000);
    this.mic.start();
    this.live?.start();
    if (this.call) {
      this.call.clearAudio();
      this.callMic!.start();
    }
    for (const rtp of this.preRoll.lastMs(preRollMs)) {
      this.mic.pushRtp(rtp);
      this.live?.pushRtp(rtp);
      this.callMic?.pushRtp(rtp);
    }
    this.setState('listening');
  }

  /** Asks for the keyframe the turn's still is made from; no more are asked for while held. */
  private armTalkKeyframe(): void {
    this.talkKeyframe = {};
    if (this.video) this.video.lengthRequestsPaused = true;
    this.peer.requestKeyframe();
  }

  /** The talk keyframe of the turn that is ending (it may still be on its way). */
  private stopListening(): TalkKeyframe | undefined {
    clearInterval(this.prewarmTimer);
    clearTimeout(this.holdTimer);
    if (!this.serverTurnsOn) this.callMic?.stop();
    const talkKeyframe = this.talkKeyframe;
    this.talkKeyframe = undefined;
    if (this.video) this.video.lengthRequestsPaused = false;
    return talkKeyframe;
  }

  private cutLongHold(): void {
    if (this.state !== 'listening') return;
    const limit = this.deps.settings.MAX_HOLD_SECONDS;
    this.deps.emit('notice', { message: `That was longer than the ${limit} s limit, so I stopped listening there.` });
    this.talkStop();
  }

  talkStop(): void {
    this.endListening(new TurnTimeline());
  }

  private endListening(timeline: TurnTimeline): void {
    if (this.closed || this.state !== 'listening') return;
    const talkKeyframe = this.stopListening();
    const segment = this.mic.stop();
    const live = this.live?.stop();
    this.setState('thinking');
    void this.runTurn({ kind: 'voice', segment, ...(live ? { live } : {}) }, timeline, talkKeyframe);
  }

  askText(text: string): void {
    if (this.closed) return;
    this.cancel();
    if (this.state === 'listening') {
      this.stopListening();
      this.mic.stop();
      this.live?.drop();
    }
    void this.runTurn({ kind: 'text', text }, new TurnTimeline());
  }

  cancel(): void {
    this.spokenError?.abort();
    const turn = this.turn;
    if (turn) turn.cancel();
    else this.sender.flush();
  }

  setSource(kind: VideoSource): void {
    this.source = kind;
    this.video?.reset();
    if (this.state === 'listening') this.armTalkKeyframe(); // the still shows the new source
    else this.peer.requestKeyframe();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.turn?.cancel();
    clearInterval(this.prewarmTimer);
    clearTimeout(this.holdTimer);
    this.spokenError?.abort();
    this.live?.close();
    this.conversation.close();
    this.serverTurns?.stop();
    this.call?.close();
    this.sender.stop();
    await this.peer.close();
  }

  /** A typed question's still is the newest frame; a voice turn's, its talk keyframe when one came. */
  private async runTurn(input: RealtimeTurnInput, timeline: TurnTimeline, talkKeyframe?: TalkKeyframe): Promise<void> {
    const { deps } = this;
    const history = this.history;
    if (!history) {
      deps.emit('session:error', { kind: 'protocol', message: 'The page has not said hello yet; reload it.' });
      this.setState('ready');
      return;
    }
    const turnNumber = ++this.turnCount;
    const media = {
      history,
      emit: deps.emit,
      minSpeechMs: deps.settings.MIN_SPEECH_MS,
      takeSnapshot: (signal: AbortSignal) => this.takeSnapshot(signal, talkKeyframe),
      play: (packet: Buffer) => this.sender.enqueue(packet),
      whenPlayed: () => this.sender.whenDrained(),
      flushPlayback: () => this.sender.flush(),
      onThinking: () => this.setState('thinking'),
    };
    const turn = this.call
      ? new RealtimeTurn({ ...media, call: this.call }, timeline, turnNumber)
      : new Turn(
          {
            ...media,
            engine: deps.engine,
            speechLookahead: 2,
            onLiveFallback: (err) => deps.logger.warn({ err }, 'streamed transcription failed; uploading the segment instead'),
          },
          timeline,
          turnNumber,
        );
    this.turn = turn;
    let outcome = 'failed';
    try {
      // A server-committed item comes only from the speech-to-speech call, so only to a RealtimeTurn.
      outcome = turn instanceof RealtimeTurn ? await turn.run(input) : await turn.run(input as TurnInput);
    } catch (err) {
      if (turn.signal.aborted) outcome = 'cancelled';
      else this.reportError(err);
    } finally {
      const milestones = timeline.toJSON();
      if (outcome === 'answered' || outcome === 'cancelled' || turn.answerText) {
        const latency = timeline.sinceRelease('firstRtp');
        deps.emit('turn:done', {
          turnId: turn.id,
          text: turn.answerText,
          ...(outcome === 'cancelled' ? { cancelled: true } : {}),
          ...(latency !== undefined ? { latencyMs: Math.round(latency) } : {}),
          timeline: milestones,
        });
      }
      deps.metrics.turns.inc({ outcome });
      for (const entry of milestones) {
        if (entry.mark !== 'release') deps.metrics.turnStageSeconds.observe({ stage: entry.mark }, entry.atMs / 1000);
      }
      deps.logger.info({ turn: turn.id, outcome, source: this.source, timeline: milestones }, 'turn');
      if (this.turn === turn) {
        this.turn = undefined;
        if (this.state !== 'listening') this.setState('ready');
      }
    }
  }

  private reportError(err: unknown): void {
    const engineError = err instanceof EngineError ? err : undefined;
    const kind = engineError?.kind ?? 'internal';
    const message = engineError?.userMessage ?? 'Something went wrong while answering. Please try again.';
    this.deps.metrics.errors.inc({ kind });
    this.deps.logger.warn({ err, kind }, 'turn failed');
    this.deps.emit('session:error', { kind, message });
    this.speakError(message);
  }

  private speakError(message: string): void {
    const voice = this.deps.errorVoice;
    if (!voice || this.closed) return;
    this.spokenError?.abort();
    const controller = new AbortController();
    this.spokenError = controller;
    const playback = new SpeechPlayback({
      speak: voice,
      play: (packet) => this.sender.enqueue(packet),
      lookahead: 0,
      signal: controller.signal,
    });
    playback.add(message);
    playback.finish().catch((err: unknown) => this.deps.logger.debug({ err }, 'could not speak the error'));
  }

  private onVideoRtp(rtp: RtpPacket, codec: VideoCodecName): void {
    if (!this.video || this.video.codec !== codec) {
      this.video = new VideoFrameBuffer({
        codec,
        // Bounds what a typed question's snapshot decodes, and the memory kept (VIDEO_MAX_FRAMES).
        maxFramesSinceKeyframe: this.deps.settings.VIDEO_MAX_FRAMES,
        onNeedKeyframe: () => this.peer.requestKeyframe(),
        onKeyframe: (frame) => {
          if (this.talkKeyframe && !this.talkKeyframe.frame) Object.assign(this.talkKeyframe, { frame, codec });
        },
      });
      this.video.lengthRequestsPaused = this.state === 'listening';
    }
    this.video.pushRtp(rtp);
  }

  private async takeSnapshot(signal: AbortSignal, talkKeyframe?: TalkKeyframe): Promise<FrameImage | undefined> {
    const video = this.video;
    const chain = talkKeyframe?.frame && talkKeyframe.codec
      ? { frames: [talkKeyframe.frame], codec: talkKeyframe.codec }
      : video?.hasKeyframe ? { frames: video.framesSinceKeyframe(), codec: video.codec } : undefined;
    if (!chain) return undefined;
    const { settings } = this.deps;
    const still = await snapshotJpeg(chain.frames, chain.codec, {
      maxSide: this.source === 'screen' ? settings.SCREEN_JPEG_MAX_SIDE : settings.JPEG_MAX_SIDE,
      quality: settings.JPEG_QUALITY,
      maxPixels: settings.SNAPSHOT_MAX_PIXELS,
      maxOutputBytes: settings.SNAPSHOT_MAX_OUTPUT_MB * 1024 * 1024,
      signal,
    });
    return { jpeg: still.jpeg, width: still.width, height: still.height, source: this.source };
  }

  private setState(state: TurnState): void {
    if (this.state === state) return;
    this.state = state;
    this.deps.emit('state', { state });
  }
}
