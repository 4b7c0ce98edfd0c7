#!/usr/bin/env bash
# Regenerate the sample media in this folder: small, real, playable clips for trying mediapub.
# Needs ffmpeg built with libx264, libmp3lame and the native AAC encoder (Debian/Ubuntu: apt-get install ffmpeg).
# The bitexact flags and -map_metadata -1 keep the output stable for a given ffmpeg/x264/lame version;
# a different version of any of them may still change the bytes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

for tool in ffmpeg ffprobe; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "make.sh: $tool not found; install ffmpeg (e.g. apt-get install ffmpeg) and run again." >&2
        exit 1
    fi
done

mkdir -p videos audio

# Shared flags: no banner, overwrite, quiet unless something goes wrong, stable output.
common=(-hide_banner -nostdin -y -loglevel error)
exact=(-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)

# 1. clip.mp4: H.264 (Main, yuv420p) + AAC-LC, 320x180, 25 fps, 4 s, moov atom first.
ffmpeg "${common[@]}" \
    -f lavfi -i "testsrc2=size=320x180:rate=25:duration=4" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=4" \
    -map 0:v -map 1:a \
    -c:v libx264 -preset medium -profile:v main -level:v 3.0 -pix_fmt yuv420p \
    -b:v 250k -maxrate 300k -bufsize 500k -g 50 -threads 1 \
    -c:a aac -b:a 64k -ac 1 \
    -shortest -movflags +faststart "${exact[@]}" \
    clip.mp4

# 2. videos/bars and tone.flv: FLV container, H.264 (Main, yuv420p) + AAC-LC, SMPTE bars, 4 s.
ffmpeg "${common[@]}" \
    -f lavfi -i "smptebars=size=320x180:rate=25:duration=4" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=4" \
    -map 0:v -map 1:a \
    -c:v libx264 -preset medium -profile:v main -level:v 3.0 -pix_fmt yuv420p \
    -b:v 200k -maxrate 250k -bufsize 400k -g 50 -threads 1 \
    -c:a aac -b:a 64k -ac 1 \
    -shortest -f flv "${exact[@]}" \
    "videos/bars and tone.flv"

# 3. audio/tone.mp3: MP3, 440 Hz sine, 44.1 kHz mono, 64 kbps CBR, 4 s.
ffmpeg "${common[@]}" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=4" \
    -c:a libmp3lame -b:a 64k -ac 1 -write_id3v1 0 "${exact[@]}" \
    audio/tone.mp3

# Show what was made.
for f in clip.mp4 "videos/bars and tone.flv" audio/tone.mp3; do
    ffprobe -v error -show_entries format=format_name,duration,size:stream=codec_name,width,height \
        -of compact=p=0:nk=0 "$f" | tr '\n' ' '
    echo " <- $f"
done
