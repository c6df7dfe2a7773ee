// What the publisher records: one MediaStream whose tracks never change, fed by whatever the person picks
// (a camera, another camera, the screen; a microphone, the screen's sound).
//
// Why not hand the camera's stream to the recorder: MediaRecorder stops with an error when the recorded
// stream's track set changes (the spec requires it and Chromium does it), so a device change or a screen
// share would end the recording and the viewers' presentation. Instead the recorder gets:
// - video: a MediaStreamTrackGenerator written from the chosen source's frames by a
//   MediaStreamTrackProcessor, in a worker (capture-worker.js). Frames are pumped as they arrive, not on
//   a timer, so a background tab (the person is sharing another window) keeps its full frame rate; a
//   canvas redrawn on requestAnimationFrame would freeze there, and the page's thread would delay frames.
//   Frames already at the output size pass through without a copy; others (the screen, a camera that
//   ignored the size) are letterboxed on an OffscreenCanvas, so the recording keeps one size throughout. "Camera off" writes black frames at the camera's
//   pace: the video track keeps its frame rate, so segments keep closing and viewers never stall.
// - audio: a WebAudio mix (MediaStreamAudioDestinationNode) of the microphone and the screen's sound.
// Browsers without MediaStreamTrackProcessor (Firefox, Safari) record the camera's video track itself:
// there, a new video source takes effect at the next Start (`canSwitchVideo` is false).

export const canSwitchVideo = typeof MediaStreamTrackProcessor === 'function'
  && typeof MediaStreamTrackGenerator === 'function' && typeof OffscreenCanvas === 'function';

/**
 * The recorded output at `width`×`height`. `audioContext` must be running (resumed in a click) for sound.
 * Returns { stream, setVideo(track), setAudio(tracks), setCameraOff(bool), close(), framesWritten() }.
 */
export function createOutput({ width, height, audioContext, video }) {
  const destination = audioContext.createMediaStreamDestination();
  let audioNodes = [];
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
      setCameraOff(off) { video.enabled = !off; },
      close() { setAudio([]); },
      framesWritten: () => frames,
    };
  }

  const generator = new MediaStreamTrackGenerator({ kind: 'video' });
  const worker = new Worker('/assets/capture-worker.js');
  worker.onmessage = ({ data }) => { if (data.type === 'frames') frames = data.count; };
  worker.postMessage({ type: 'output', writable: generator.writable, width, height }, [generator.writable]);

  function setVideo(track) {
    const { readable } = new MediaStreamTrackProcessor({ track });
    worker.postMessage({ type: 'source', readable }, [readable]);
    return true;
  }

  setVideo(video);
  return {
    stream: new MediaStream([generator, ...destination.stream.getAudioTracks()]),
    setVideo,
    setAudio,
    setCameraOff(off) { worker.postMessage({ type: 'cameraOff', off }); },
    close() {
      worker.postMessage({ type: 'close' });
      setAudio([]);
      // Time for the worker to close the generator's stream before it goes.
      setTimeout(() => worker.terminate(), 1000);
    },
    framesWritten: () => frames,
  };
}
