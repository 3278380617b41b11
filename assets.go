// Package gemmatool holds the files bundled into the gemmatool binary: the real Gemma 3
// tokenizer (zstd-compressed, 3.9 MB), so that `gemmatool synth` can write complete
// checkpoints anywhere. The commands live in cmd/gemmatool and the libraries in the
// convert, quantize, format, verify and runtime packages.
package gemmatool

import (
	_ "embed"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

//go:embed testdata/gemma3-tokenizer/tokenizer.json.zst
var tokenizerJSONZst []byte

//go:embed testdata/gemma3-tokenizer/tokenizer_config.json.zst
var tokenizerConfigZst []byte

// TokenizerFiles returns the bundled Gemma 3 tokenizer.json and tokenizer_config.json.
func TokenizerFiles() (tokenizerJSON, tokenizerConfig []byte, err error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, nil, err
	}
	defer dec.Close()
	if tokenizerJSON, err = dec.DecodeAll(tokenizerJSONZst, nil); err != nil {
		return nil, nil, fmt.Errorf("bundled tokenizer.json: %w", err)
	}
	if tokenizerConfig, err = dec.DecodeAll(tokenizerConfigZst, nil); err != nil {
		return nil, nil, fmt.Errorf("bundled tokenizer_config.json: %w", err)
	}
	return tokenizerJSON, tokenizerConfig, nil
}
