#!/bin/sh
# Rebuilds the example verification report: the bundled model (gemma3-brown-tiny), Q4_0
# against BF16, on held-out text, plus golden case b's image with its vision tower in Q8_0.
# Usage: docs/verify-report/make.sh [WORKDIR]   (needs go and zstd; writes the JSON documents
# and report.html into this folder)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
(cd "$repo" && go build -o "$work/gemmatool" ./cmd/gemmatool)
mkdir -p brown images
for f in config.json generation_config.json; do cp "$repo/testdata/models/gemma3-brown-tiny/$f" brown/; done
zstd -qdf "$repo/testdata/models/gemma3-brown-tiny/model.safetensors.zst" -o brown/model.safetensors
zstd -qdf "$repo/testdata/gemma3-tokenizer/tokenizer.json.zst" -o brown/tokenizer.json
zstd -qdf "$repo/testdata/gemma3-tokenizer/tokenizer_config.json.zst" -o brown/tokenizer_config.json
cp "$repo/testdata/models/brown-val.txt" .
cp "$repo/testdata/b_mm_4b_like/image0.png" images/
cp "$here/images-manifest.json" images/manifest.json
./gemmatool convert brown -o bf16.gmt -q
./gemmatool quantize bf16.gmt -o q4_0.gmt --type q4_0 -q
./gemmatool convert "$repo/testdata/b_mm_4b_like" -o golden-b.gmt -q
./gemmatool verify kld --model q4_0.gmt --reference bf16.gmt --text brown-val.txt --ctx 256 --chunks 20 --json > "$here/kld.json"
./gemmatool verify tensors brown q4_0.gmt --json > "$here/tensors.json"
./gemmatool verify activations --model q4_0.gmt --text brown-val.txt --ctx 256 --chunks 4 --json > "$here/activations.json"
./gemmatool verify kld --model golden-b.gmt --image-set images --vision q8_0 --json > "$here/images.json"
cd "$here"
"$work/gemmatool" verify report -o report.html --title "gemmatool verification report: the bundled model, Q4_0 against BF16" \
  kld.json tensors.json activations.json images.json
