// The video half of capture.js, off the page's thread: frames of the chosen source (a
// MediaStreamTrackProcessor's stream, transferred here) are written to the recorded track (a
// MediaStreamTrackGenerator's stream), as they arrive. On the page's thread a frame would wait for the
// player, layout and timers; here it doesn't, so a busy page neither delays nor drops frames.
//
// Messages in: {type:'output', writable, width, height}, {type:'source', readable}, {type:'cameraOff', off},
// {type:'close'}. Out: {type:'frames', count} about once a second.

/* eslint-env worker */

/** The step between two sources' frames in the output, in microseconds: one frame at 30 fps. */
const FRAME_GAP_US = 33_333;
/** How often the page hears how many frames were written (tests and diagnostics). */
const REPORT_EVERY_FRAMES = 15;

let writer = null;
let width = 0;
let height = 0;
let canvas = null;
let context = null;
let reader = null;
let cameraOff = false;
let frames = 0;

/**
 * Output timestamps keep the capture's own spacing; a new source continues one frame after the last
 * output frame, so the timeline only goes forward.
 */
let offset = null;
let lastTimestamp = -FRAME_GAP_US;
function timestampOf(frame) {
  if (offset === null) offset = lastTimestamp + FRAME_GAP_US - frame.timestamp;
  lastTimestamp = Math.max(frame.timestamp + offset, lastTimestamp + 1);
  return lastTimestamp;
}

/** One frame of the output: the source's frame as is, letterboxed, or black. Closes `frame`. */
function output(frame) {
  const timestamp = timestampOf(frame);
  if (!cameraOff && frame.displayWidth === width && frame.displayHeight === height) {
    const copy = new VideoFrame(frame, { timestamp });
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
  return new VideoFrame(canvas, { timestamp });
}

async function pump(own) {
  for (;;) {
    let result;
    try {
      result = await own.read();
    } catch {
      return;
    }
    if (result.done) return;
    if (reader !== own || !writer) { result.value.close(); return; }
    try {
      await writer.write(output(result.value));
    } catch {
      return; // The output was closed.
    }
    frames += 1;
    if (frames % REPORT_EVERY_FRAMES === 0) postMessage({ type: 'frames', count: frames });
  }
}

onmessage = ({ data }) => {
  if (data.type === 'output') {
    ({ width, height } = data);
    writer = data.writable.getWriter();
    canvas = new OffscreenCanvas(width, height);
    context = canvas.getContext('2d', { alpha: false });
  } else if (data.type === 'source') {
    const previous = reader;
    reader = data.readable.getReader();
    offset = null;
    if (previous) previous.cancel().catch(() => {});
    pump(reader);
  } else if (data.type === 'cameraOff') {
    cameraOff = data.off;
  } else if (data.type === 'close') {
    if (reader) reader.cancel().catch(() => {});
    reader = null;
    if (writer) writer.close().catch(() => {});
    writer = null;
  }
};
