// Local media: the mic and camera from getUserMedia, the screen from getDisplayMedia, and which
// video track is "current" (what the peer sends and the preview shows).

// Echo cancellation matters most in hands-free: without it the assistant's own voice from the
// speakers reaches the server's VAD and interrupts the reply (barge-in).
const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

/** Constraints for exactly this device (Chrome does not honour an `ideal` device id). */
function withDevice(constraints, deviceId) {
  return deviceId ? { ...constraints, deviceId: { exact: deviceId } } : constraints;
}

/** getUserMedia with the remembered devices; without them if they are gone. */
async function openRemembered(audio, video, ids) {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: withDevice(audio, ids.micId), ...(video ? { video: withDevice(video, ids.cameraId) } : {}) });
  } catch (error) {
    const gone = error?.name === 'OverconstrainedError' || error?.name === 'NotFoundError';
    if (!gone || (!ids.micId && !ids.cameraId)) throw error;
    return navigator.mediaDevices.getUserMedia({ audio, ...(video ? { video } : {}) });
  }
}

/** Words a user understands for the usual getUserMedia failures. */
export function describeMediaError(error, what = 'camera and microphone') {
  const name = error && typeof error === 'object' && 'name' in error ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Access to your ${what} was blocked. Allow it in the browser's site settings, then reload the page.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found. Plug one in, then reload the page.`;
    case 'NotReadableError':
    case 'AbortError':
      return `Your ${what} is busy or not working (another app may be using it). Close that app, then reload.`;
    default:
      if (!navigator.mediaDevices?.getUserMedia) {
        return 'This page needs a secure connection (https://) and a modern browser to use your camera and microphone.';
      }
      return `Could not start your ${what}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export class LocalMedia {
  /** @type {MediaStreamTrack | null} */ micTrack = null;
  /** @type {MediaStreamTrack | null} */ cameraTrack = null;
  /** @type {MediaStreamTrack | null} */ screenTrack = null;
  /** @type {'camera' | 'screen'} */ source = 'camera';
  /** Fired after the current video track changes: (track, source) => void */
  onVideoTrackChange = (_track, _source) => {};
  /** Fired when the browser's own "Stop sharing" ends the screen share. */
  onScreenEnded = () => {};
  /** Fired after another microphone was picked: (track) => void */
  onMicTrackChange = (_track) => {};

  /**
   * Opens mic + camera. If the camera alone fails, carries on with the mic and reports that.
   * @returns {Promise<{ cameraError?: unknown }>}; rejects when even the mic can't be opened
   */
  async open({ micId, cameraId } = {}) {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('getUserMedia is not available');
    try {
      const stream = await openRemembered(AUDIO_CONSTRAINTS, VIDEO_CONSTRAINTS, { micId, cameraId });
      this.micTrack = stream.getAudioTracks()[0] ?? null;
      this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    } catch (error) {
      if (error?.name === 'NotAllowedError' || error?.name === 'SecurityError') throw error;
      const audioOnly = await openRemembered(AUDIO_CONSTRAINTS, null, { micId });
      this.micTrack = audioOnly.getAudioTracks()[0] ?? null;
      return { cameraError: error };
    }
    if (this.micTrack) this.micTrack.contentHint = 'speech';
    // The camera keeps no content hint: Chrome encodes a 'detail' or 'text' track as a screencast
    // (low frame rate, a screen-share bitrate). Its resolution is kept by the sender's
    // degradationPreference instead (peer.js).
    return {};
  }

  /** @returns {MediaStreamTrack | null} the track the peer should send as video */
  get videoTrack() {
    return this.source === 'screen' && this.screenTrack ? this.screenTrack : this.cameraTrack;
  }

  /** @returns {MediaStream} a stream holding the mic and current video, for the peer's msid */
  get stream() {
    const tracks = [this.micTrack, this.videoTrack].filter((track) => track !== null);
    return new MediaStream(tracks);
  }

  /** Starts a screen share (asks the user which screen) and makes it the current source. */
  async useScreen() {
    if (this.source === 'screen' && this.screenTrack?.readyState === 'live') return;
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    const track = stream.getVideoTracks()[0];
    // Text on screens should stay sharp: encoded as a screencast of text, and the encoder drops
    // frames rather than resolution.
    track.contentHint = 'text';
    track.addEventListener('ended', () => {
      if (this.screenTrack !== track) return;
      this.useCamera();
      this.onScreenEnded();
    });
    this.screenTrack = track;
    this.source = 'screen';
    this.onVideoTrackChange(track, 'screen');
  }

  /** Switches to another microphone (exactly that one); the old track is stopped. */
  async useMic(deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { ...AUDIO_CONSTRAINTS, deviceId: { exact: deviceId } } });
    const track = stream.getAudioTracks()[0];
    track.contentHint = 'speech';
    const old = this.micTrack;
    this.micTrack = track;
    this.onMicTrackChange(track);
    old?.stop();
  }

  /** Switches to another camera; sent at once unless the screen is being shared. */
  async useCameraDevice(deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO_CONSTRAINTS, deviceId: { exact: deviceId } } });
    const track = stream.getVideoTracks()[0];
    track.contentHint = 'detail';
    const old = this.cameraTrack;
    this.cameraTrack = track;
    if (this.source === 'camera') this.onVideoTrackChange(track, 'camera');
    old?.stop();
  }

  /** @param {'audioinput' | 'videoinput'} kind @returns {string | undefined} the device in use */
  deviceId(kind) {
    const track = kind === 'audioinput' ? this.micTrack : this.cameraTrack;
    return track?.getSettings?.().deviceId;
  }

  /** Stops any screen share and goes back to the camera. */
  useCamera() {
    const screen = this.screenTrack;
    this.screenTrack = null;
    this.source = 'camera';
    this.onVideoTrackChange(this.cameraTrack, 'camera');
    screen?.stop();
  }
}
