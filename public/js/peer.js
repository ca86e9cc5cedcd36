// One RTCPeerConnection per connection to the server: mic on a sendrecv audio m-line (the
// assistant's voice comes back on it), video sendonly. Non-trickle: the offer goes out once ICE
// gathering is complete (or after ICE_GATHER_TIMEOUT_MS, whichever comes first).

const ICE_GATHER_TIMEOUT_MS = 1000;
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * Codecs in the order given by `preferred` mime types first, then the rest as the browser lists them.
 * @param {'audio' | 'video'} kind
 * @param {string[]} preferred e.g. ['video/VP8', 'video/H264']
 */
function orderedCodecs(kind, preferred) {
  const capabilities = RTCRtpReceiver.getCapabilities?.(kind);
  if (!capabilities) return null;
  const rank = (codec) => {
    const index = preferred.indexOf(codec.mimeType.toLowerCase());
    return index === -1 ? preferred.length : index;
  };
  return capabilities.codecs
    .map((codec, order) => ({ codec, order }))
    .sort((a, b) => rank(a.codec) - rank(b.codec) || a.order - b.order)
    .map(({ codec }) => codec);
}

function preferCodecs(transceiver, kind, preferred) {
  const codecs = orderedCodecs(kind, preferred.map((mime) => mime.toLowerCase()));
  if (!codecs || typeof transceiver.setCodecPreferences !== 'function') return;
  try {
    transceiver.setCodecPreferences(codecs);
  } catch (error) {
    console.warn('setCodecPreferences failed; using the browser default order', error);
  }
}

/** @param {RTCPeerConnection} pc */
function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ICE_GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', onChange);
  });
}

/**
 * @param {{ micTrack: MediaStreamTrack | null; videoTrack: MediaStreamTrack | null; stream: MediaStream }} media
 * @returns {{ pc: RTCPeerConnection; videoSender: RTCRtpSender; audioSender: RTCRtpSender }}
 */
/** `iceServers`: the STUN/TURN servers the server told at hello (ICE_SERVERS), if any. */
export function createPeer(media, iceServers = []) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers });
  const streams = [media.stream];
  const audio = media.micTrack
    ? pc.addTransceiver(media.micTrack, { direction: 'sendrecv', streams })
    : pc.addTransceiver('audio', { direction: 'sendrecv', streams });
  preferCodecs(audio, 'audio', ['audio/opus']);
  const video = media.videoTrack
    ? pc.addTransceiver(media.videoTrack, { direction: 'sendonly', streams })
    : pc.addTransceiver('video', { direction: 'sendonly', streams });
  preferCodecs(video, 'video', ['video/VP8', 'video/H264', 'video/VP9']);
  return { pc, videoSender: video.sender, audioSender: audio.sender };
}

/**
 * Creates the offer, waits for ICE gathering, sends it with `sendOffer` and applies the answer.
 * @param {RTCPeerConnection} pc
 * @param {(offer: { type: 'offer'; sdp: string }) => Promise<{ answer?: { type: 'answer'; sdp: string }; error?: string }>} sendOffer
 */
export async function negotiate(pc, sendOffer) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const local = pc.localDescription;
  if (!local) throw new Error('The browser made no offer');
  const reply = await Promise.race([
    sendOffer({ type: 'offer', sdp: local.sdp }),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('The server did not answer the media offer in time')), ANSWER_TIMEOUT_MS),
    ),
  ]);
  if (pc.signalingState === 'closed') return;
  if (!reply || reply.error || !reply.answer?.sdp) {
    throw new Error(reply?.error || 'The server sent no media answer');
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: reply.answer.sdp });
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.sender.track?.kind === 'video' || transceiver.receiver.track?.kind === 'video') {
      await keepResolution(transceiver.sender);
    }
  }
}

/**
 * The assistant looks at single frames: under CPU or bandwidth pressure the video sender drops
 * frame rate, never resolution, for the camera and the screen alike (the setting belongs to the
 * sender, so it holds across replaceTrack).
 * @param {RTCRtpSender} sender
 */
export async function keepResolution(sender) {
  try {
    const parameters = sender.getParameters();
    if (parameters.degradationPreference === 'maintain-resolution') return;
    parameters.degradationPreference = 'maintain-resolution';
    await sender.setParameters(parameters);
  } catch (error) {
    console.warn('this browser does not take degradationPreference; it chooses between frame rate and resolution', error);
  }
}
