// Page entry: local media, the socket.io session, one RTCPeerConnection per connection.
import { io } from '/socket.io/socket.io.esm.min.js';
import { LocalMedia, describeMediaError } from './js/media.js';
import { startMicMeter } from './js/mic-meter.js';
import { createPeer, negotiate } from './js/peer.js';
import { wireControls, showSource } from './js/controls.js';
import { wireModeSwitch, showHearing } from './js/mode.js';
import { wireDevicePickers, rememberedDevice } from './js/devices.js';
import {
  showHistory, addUserTurn, addAssistantDelta, finishAssistantTurn, showPartialUserTurn, dropPartialUserTurn,
} from './js/conversation.js';
import {
  setServerState, setPeerConnected, currentState, showError, clearError, clearFatal, showNotice, showEngineNote, showStages,
} from './js/status.js';

const HELLO_TIMEOUT_MS = 5000;
/** Back-off between media reconnects after a failure: 1 s, 2 s, 4 s … up to 30 s. */
const PEER_RETRY_FIRST_MS = 1000;
const PEER_RETRY_MAX_MS = 30_000;
let peerRetries = 0;
let peerRetryTimer = null;
const SESSION_KEY = 'webcam-assistant.sessionId';

const preview = /** @type {HTMLVideoElement} */ (document.querySelector('[data-testid="preview"]'));
const assistantAudio = /** @type {HTMLAudioElement} */ (document.querySelector('[data-testid="assistant-audio"]'));

/** The conversation's secret key: 32 random bytes, base64url (the server refuses weak keys). */
function sessionId() {
  let id = localStorage.getItem(SESSION_KEY);
  if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    localStorage.setItem(SESSION_KEY, id);
  }
  return id;
}

const media = new LocalMedia();
let micMeter = null;
/** @type {{ pc: RTCPeerConnection; videoSender: RTCRtpSender; audioSender: RTCRtpSender } | null} */
let peer = null;
/** Bumped on every (re)connect, so a slow negotiation for an old connection gives up. */
let generation = 0;
/** STUN/TURN servers from the server's hello (ICE_SERVERS). */
let iceServers = [];

// WebSocket only (the server's choice: a page's signalling stays on one worker); reconnects by itself.
const socket = io({ transports: ['websocket'] });

const emitIfConnected = (event, payload) => {
  if (!socket.connected) return false;
  if (payload === undefined) socket.emit(event);
  else socket.emit(event, payload);
  return true;
};

function showPreview(track) {
  preview.srcObject = track ? new MediaStream([track]) : null;
  preview.play?.().catch(() => {});
}

const modeSwitch = wireModeSwitch((mode) => emitIfConnected('mode', { mode }));
const devicePickers = wireDevicePickers({
  currentId: (kind) => media.deviceId(kind),
  choose: (kind, deviceId) => (kind === 'audioinput' ? media.useMic(deviceId) : media.useCameraDevice(deviceId)),
});
// The screen-share button only where the browser can share a screen (not on most phones).
if (!navigator.mediaDevices?.getDisplayMedia) document.querySelector('[data-testid="source-screen"]')?.setAttribute('hidden', '');

const mediaReady = media.open({ micId: rememberedDevice('audioinput'), cameraId: rememberedDevice('videoinput') }).then(
  ({ cameraError }) => {
    if (cameraError) showError(describeMediaError(cameraError, 'camera'));
    showPreview(media.videoTrack);
    if (media.micTrack) micMeter = startMicMeter(media.micTrack);
    void devicePickers.refresh(); // labels are readable once access was given
    return true;
  },
  (error) => {
    console.warn('getUserMedia failed', error);
    showError(describeMediaError(error), { fatal: 'media' });
    return false;
  },
);

media.onVideoTrackChange = (track, source) => {
  showPreview(track);
  showSource(source);
  const replaced = peer ? peer.videoSender.replaceTrack(track) : Promise.resolve();
  replaced
    .catch((error) => console.warn('replaceTrack failed', error))
    .finally(() => emitIfConnected('source', { kind: source }));
};
media.onMicTrackChange = (track) => {
  micMeter?.stop();
  micMeter = startMicMeter(track);
  peer?.audioSender.replaceTrack(track).catch((error) => console.warn('replaceTrack (mic) failed', error));
};
media.onScreenEnded = () => showNotice('Screen sharing stopped — back to the camera.');

function closePeer() {
  if (!peer) return;
  peer.pc.close();
  peer = null;
  setPeerConnected(false);
}

/** Says the media connection failed and makes a new one after a growing pause (once per failure). */
function peerFailed(failedPeer, message) {
  if (peer !== failedPeer || peerRetryTimer) return;
  setPeerConnected(false);
  const delayMs = Math.min(PEER_RETRY_MAX_MS, PEER_RETRY_FIRST_MS * 2 ** peerRetries);
  peerRetries++;
  showError(`${message} Retrying in ${Math.round(delayMs / 1000)} s…`, { fatal: 'peer' });
  peerRetryTimer = setTimeout(() => {
    peerRetryTimer = null;
    if (peer === failedPeer && socket.connected) void connectPeer(generation);
  }, delayMs);
}

async function connectPeer(myGeneration) {
  await mediaReady;
  if (myGeneration !== generation || !socket.connected) return;
  closePeer();
  const current = createPeer(media, iceServers);
  peer = current;
  const { pc } = current;
  window.__pc = pc; // the page's current peer, for diagnostics and the e2e rig (test/e2e/README.md)
  pc.addEventListener('track', (event) => {
    if (event.track.kind !== 'audio') return;
    assistantAudio.srcObject = event.streams[0] ?? new MediaStream([event.track]);
    assistantAudio.play().catch(() => {}); // autoplay may wait for the first gesture
  });
  pc.addEventListener('connectionstatechange', () => {
    if (peer !== current) return;
    const state = pc.connectionState;
    if (state === 'connected') {
      peerRetries = 0;
      clearFatal('peer');
      setPeerConnected(true);
    } else if (state === 'failed') {
      peerFailed(current, 'The media connection to the server failed.');
    } else if (state === 'disconnected' || state === 'closed') {
      setPeerConnected(false);
    }
  });
  try {
    await negotiate(pc, (offer) => socket.emitWithAck('rtc:offer', offer));
    if (peer === current && media.source === 'screen') emitIfConnected('source', { kind: 'screen' });
  } catch (error) {
    if (peer !== current) return;
    console.error('negotiation failed', error);
    showError(`Could not set up audio and video with the server: ${error instanceof Error ? error.message : error}`,
      { fatal: 'peer' });
  }
}

socket.on('connect', async () => {
  const myGeneration = ++generation;
  failedAttempts = 0;
  clearError();
  setPeerConnected(false);
  try {
    const reply = await socket.timeout(HELLO_TIMEOUT_MS).emitWithAck('hello', { sessionId: sessionId() });
    if (myGeneration !== generation) return;
    showEngineNote(reply?.engine, reply?.engineNote);
    showStages(reply?.stages);
    showHistory(reply?.history ?? []);
    if (reply?.instance) document.body.dataset.instance = String(reply.instance);
    iceServers = Array.isArray(reply?.iceServers) ? reply.iceServers : [];
    emitIfConnected('mode', { mode: modeSwitch.mode() });
  } catch (error) {
    console.warn('hello got no answer', error);
  }
  await connectPeer(myGeneration);
});

socket.on('disconnect', () => {
  generation++;
  showHearing(false);
  closePeer();
  controls.forget();
});
let failedAttempts = 0;
socket.on('connect_error', () => {
  failedAttempts++;
  if (failedAttempts === 3 || !socket.active) showError('Cannot reach the server. Retrying…');
});

socket.on('state', (message) => {
  // A partial question left when listening starts again or the turn ends without one was dropped.
  if (message?.state === 'ready' || message?.state === 'listening') dropPartialUserTurn();
  setServerState(message?.state);
});
socket.on('vad', (message) => showHearing(message?.speaking === true));
socket.on('turn:partial', (message) => showPartialUserTurn(message ?? {}));
socket.on('turn:user', (message) => {
  clearError();
  addUserTurn(message);
});
socket.on('turn:delta', (message) => addAssistantDelta(message));
socket.on('turn:done', (message) => finishAssistantTurn(message));
socket.on('notice', (message) => {
  if (message?.message) showNotice(String(message.message));
});
socket.on('rtc:failed', (message) => {
  if (peer) peerFailed(peer, String(message?.message || 'The media connection to the server failed.'));
});
socket.on('session:error', (message) => {
  showError(String(message?.message || 'Something went wrong.'));
});

const controls = wireControls({
  talkStart: () => {
    clearError();
    emitIfConnected('talk:start');
  },
  talkStop: () => emitIfConnected('talk:stop'),
  cancel: () => emitIfConnected('cancel'),
  sendText: (text) => {
    clearError();
    if (!emitIfConnected('text', { text })) showNotice('Not connected yet — try again in a moment.');
  },
  switchSource: async (kind) => {
    try {
      if (kind === 'screen') await media.useScreen();
      else if (media.source !== 'camera') media.useCamera();
    } catch (error) {
      const refused = error?.name === 'NotAllowedError' || error?.name === 'AbortError';
      showNotice(refused ? 'Screen sharing was not started.' : `Could not share the screen: ${error?.message ?? error}`);
    }
  },
  currentState,
  onGesture: () => {
    micMeter?.resume();
    if (assistantAudio.srcObject && assistantAudio.paused) assistantAudio.play().catch(() => {});
  },
});
