#!/usr/bin/env bash
# Fills fuzz/corpus/{packager,parsers,rtmp} (git-ignored) with seeds: the checked-in fuzz/seeds/, plus every
# recorder fixture in tests/fixtures/recorder/ whole and as prefixes, behind the packager target's
# header bytes (see src/packager.rs for the layout). Safe to run again: it only adds files.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures/recorder
mkdir -p corpus/packager corpus/parsers corpus/rtmp
cp -n seeds/packager/* corpus/packager/
cp -n seeds/parsers/* corpus/parsers/
cp -n seeds/rtmp/* corpus/rtmp/

# fixture -> index into MIME_TYPES (raw mode): the mimeType Chromium reported, or the closest one.
declare -A mime=(
  [h264-opus.mkv]=0 [h264-opus-10s.mkv]=0 [h264.mkv]=0 [vp8-opus.webm]=1 [vp8.webm]=1 [vp9-opus.webm]=2
  [h264-opus.mp4]=3 [vp9-opus.mp4]=4 [opus.webm]=5 [opus.mp4]=6 [pcm.webm]=7
)
hex() { printf "\\x$(printf %02x "$1")"; }
for file in "${!mime[@]}"; do
  m=${mime[$file]}
  stem=${file//./-}
  # byte 0: mimeType | low latency (0x08) on the even-numbered variants; byte 1-2: chunking.
  # Whole file, fixed 7919-byte messages (like tests/package_recorder_shapes.rs), normal latency.
  { hex "$m"; hex $(( (7918 >> 8) & 0x3f )); hex $(( 7918 & 0xff )); cat "$fixtures/$file"; } > "corpus/packager/raw-$stem-whole"
  # Whole file, random message sizes, low latency.
  { hex $(( m | 0x08 )); hex $(( 0x40 | 0x12 )); hex 0x34; cat "$fixtures/$file"; } > "corpus/packager/raw-$stem-whole-ll-random"
  # Whole file in one message, reconnect (sent twice).
  { hex $(( m | 0x20 )); hex 0x80; hex 0; cat "$fixtures/$file"; } > "corpus/packager/raw-$stem-whole-reconnect"
  # Prefixes, in tiny messages.
  for n in 512 4096 32768; do
    { hex "$m"; hex 0xc0; hex 0x01; head -c "$n" "$fixtures/$file"; } > "corpus/packager/raw-$stem-prefix-$n"
  done
done
echo "corpus/packager: $(ls corpus/packager | wc -l) files, corpus/parsers: $(ls corpus/parsers | wc -l) files"
