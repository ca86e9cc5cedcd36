// Local media: the mic and camera from getUserMedia, the screen from getDisplayMedia, and which
// video track is "current" (what the peer sends and the preview shows).

const CAMERA_CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
};

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

  /**
   * Opens mic + camera. If the camera alone fails, carries on with the mic and reports that.
   * @returns {Promise<{ cameraError?: unknown }>}; rejects when even the mic can't be opened
   */
  async open() {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('getUserMedia is not available');
    try {
      const stream = await navigator.mediaDevices.getUserMedia(CAMERA_CONSTRAINTS);
      this.micTrack = stream.getAudioTracks()[0] ?? null;
      this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    } catch (error) {
      if (error?.name === 'NotAllowedError' || error?.name === 'SecurityError') throw error;
      const audioOnly = await navigator.mediaDevices.getUserMedia({ audio: CAMERA_CONSTRAINTS.audio });
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

  /** Stops any screen share and goes back to the camera. */
  useCamera() {
    const screen = this.screenTrack;
    this.screenTrack = null;
    this.source = 'camera';
    this.onVideoTrackChange(this.cameraTrack, 'camera');
    screen?.stop();
  }
}
