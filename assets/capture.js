// What the publisher records: one MediaStream whose tracks never change, fed by whatever the person picks
// (a camera, another camera, the screen; a microphone, the screen's sound).
//
// Why not hand the camera's stream to the recorder: MediaRecorder stops with an error when the recorded
// stream's track set changes (the spec requires it and Chromium does it), so a device change or a screen
// share would end the recording and the viewers' presentation. Instead the recorder gets:
// - video: a MediaStreamTrackGenerator written from the chosen source's frames by a
//   MediaStreamTrackProcessor. Frames are pumped as they arrive, not on a timer, so a background tab (the
//   person is sharing another window) keeps its full frame rate; a canvas redrawn on
//   requestAnimationFrame would freeze there. Frames already at the output size pass through without a
//   copy; others (the screen, a camera that ignored the size) are letterboxed on an OffscreenCanvas, so the
//   recording keeps one size for its whole length. "Camera off" writes black frames at the camera's
//   pace: the video track keeps its frame rate, so segments keep closing and viewers never stall.
// - audio: a WebAudio mix (MediaStreamAudioDestinationNode) of the microphone and the screen's sound.
// Browsers without MediaStreamTrackProcessor (Firefox, Safari) record the camera's video track itself:
// there, a new video source takes effect at the next Start (`canSwitchVideo` is false).

/** Copies `source` (a VideoFrame or the canvas) with our own clock, so frames of different sources form one increasing timeline. */
function restamp(source, timestamp) {
  return new VideoFrame(source, { timestamp });
}

export const canSwitchVideo = typeof MediaStreamTrackProcessor === 'function'
  && typeof MediaStreamTrackGenerator === 'function' && typeof OffscreenCanvas === 'function';

/**
 * The recorded output at `width`×`height`. `audioContext` must be running (resumed in a click) for sound.
 * Returns { stream, setVideo(track), setAudio(tracks), setCameraOff(bool), close(), framesWritten() }.
 */
export function createOutput({ width, height, audioContext, video }) {
  const destination = audioContext.createMediaStreamDestination();
  let audioNodes = [];
  let cameraOff = false;
  let frames = 0;

  function setAudio(tracks) {
    for (const node of audioNodes) node.disconnect();
    audioNodes = tracks.filter(Boolean).map((track) => {
      const node = audioContext.createMediaStreamSource(new MediaStream([track]));
      node.connect(destination);
      return node;
    });
  }

  if (!canSwitchVideo) {
    return {
      stream: new MediaStream([video, ...destination.stream.getAudioTracks()]),
      setVideo: () => false,
      setAudio,
      // Without our own frames, a disabled track is what the recorder turns into black frames.
      setCameraOff(off) { cameraOff = off; video.enabled = !off; },
      close() { setAudio([]); },
      framesWritten: () => frames,
    };
  }

  const generator = new MediaStreamTrackGenerator({ kind: 'video' });
  const writer = generator.writable.getWriter();
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { alpha: false });
  const started = performance.now();
  let reader = null;

  /** One frame of the output: the source's frame as is, letterboxed, or black. Closes `frame`. */
  function output(frame) {
    const timestamp = Math.round((performance.now() - started) * 1000);
    if (!cameraOff && frame.displayWidth === width && frame.displayHeight === height) {
      const copy = restamp(frame, timestamp);
      frame.close();
      return copy;
    }
    context.fillStyle = '#000';
    context.fillRect(0, 0, width, height);
    if (!cameraOff) {
      const scale = Math.min(width / frame.displayWidth, height / frame.displayHeight);
      const w = frame.displayWidth * scale;
      const h = frame.displayHeight * scale;
      context.drawImage(frame, (width - w) / 2, (height - h) / 2, w, h);
    }
    frame.close();
    return restamp(canvas, timestamp);
  }

  async function pump(track) {
    const own = new MediaStreamTrackProcessor({ track }).readable.getReader();
    reader = own;
    for (;;) {
      let result;
      try {
        result = await own.read();
      } catch {
        return;
      }
      if (result.done) return;
      if (reader !== own) { result.value.close(); return; }
      try {
        await writer.write(output(result.value));
        frames += 1;
      } catch {
        return; // The output was closed.
      }
    }
  }

  function setVideo(track) {
    const previous = reader;
    reader = null;
    if (previous) previous.cancel().catch(() => {});
    pump(track);
    return true;
  }

  setVideo(video);
  return {
    stream: new MediaStream([generator, ...destination.stream.getAudioTracks()]),
    setVideo,
    setAudio,
    setCameraOff(off) { cameraOff = off; },
    close() {
      if (reader) reader.cancel().catch(() => {});
      reader = null;
      writer.close().catch(() => {});
      setAudio([]);
    },
    framesWritten: () => frames,
  };
}
