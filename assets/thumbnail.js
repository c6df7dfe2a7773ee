// The stream's thumbnail, made in the publisher's browser (the server never decodes video): a small JPEG
// of what is being recorded, sent as `{"type":"thumbnail","data":"<base64 JPEG>"}` every few seconds.

/** Thumbnail width in pixels: enough for a card in the stream list, small enough to send often. */
export const THUMBNAIL_WIDTH = 320;

/**
 * The contract's limit is 64 KB of base64 text; base64 is 4/3 of the JPEG, so the JPEG stays under 48 KiB.
 */
export const THUMBNAIL_MAX_JPEG_BYTES = 48 * 1024;

/** Qualities tried in turn until the JPEG fits; a detailed screen share may need the lower ones. */
const QUALITIES = [0.7, 0.5, 0.3];

const toBlob = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));

/** The frame `video` shows now as base64 JPEG within the limit, or null (no frame yet, or none fits). */
export async function thumbnailOf(video) {
  if (!video.videoWidth || !video.videoHeight) return null;
  for (let width = THUMBNAIL_WIDTH; width >= THUMBNAIL_WIDTH / 4; width /= 2) {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = Math.round((video.videoHeight / video.videoWidth) * width);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    for (const quality of QUALITIES) {
      const blob = await toBlob(canvas, quality);
      if (blob && blob.size <= THUMBNAIL_MAX_JPEG_BYTES) return base64(blob);
    }
  }
  return null;
}

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(',') + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
