#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the server and tests use, if any is missing.
#   ffmpeg                         video decode, Opus encode for offline speech
#   pocketsphinx pocketsphinx-en-us offline speech recognition
#   flite espeak-ng                offline speech synthesis
#   sox opus-tools chromium        test media and the end-to-end browser
#   firefox-esr tesseract-ocr(-eng) the Firefox end-to-end test, OCR of the screen still
#   patch                          checks patches/*.patch still apply to werift
#   nginx redis-server             the scale tests (load balancer and shared conversation store)
set -euo pipefail
packages=(ffmpeg pocketsphinx pocketsphinx-en-us flite espeak-ng sox opus-tools chromium firefox-esr tesseract-ocr tesseract-ocr-eng fonts-dejavu-core procps patch nginx redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "System packages: all present."
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "Please install: ${missing[*]} (this script knows apt-get only)." >&2
  exit 1
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
echo "Installing: ${missing[*]}"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
