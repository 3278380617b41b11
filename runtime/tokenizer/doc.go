// Package tokenizer implements the Gemma 3 tokenizer and chat template.
//
// [Load] reads the Hugging Face tokenizer.json (a BPE model over Unicode code points with byte
// fallback) and, optionally, tokenizer_config.json (the chat template and eos_token). It
// accepts only the configuration Gemma 3 uses and reports anything else as [ErrUnsupported],
// so that a different tokenizer cannot be silently mis-encoded.
//
// Encoding ([Tokenizer.Encode]):
//
//  1. Added tokens (6415 in Gemma 3: special tokens, <unusedN>, HTML tags, runs of 1–31
//     newlines, of 1–31 tabs and of 2–31 U+2581) are split out of the raw text first: scanning
//     left to right, the longest added token starting at each position is taken.
//  2. In each remaining segment every space U+0020 becomes U+2581 "▁"; nothing else is
//     normalised (no Unicode normalisation, no dummy prefix, no stripping).
//  3. Each segment, however long, is one BPE word: its code points become vocabulary symbols,
//     or, when a code point is not in the vocabulary, one byte-fallback token <0xXX> (id 238 +
//     byte in Gemma 3) per UTF-8 byte. The adjacent pair with the lowest merge rank is merged
//     (leftmost first among equal ranks) until no pair has a merge. A heap of candidate merges
//     over a linked list of symbols makes this O(n log n) in the segment length. As no Gemma 3
//     token but ">▁</" contains a space after a non-space, segments are cut before such spaces
//     (except where ">▁</" could match), which gives the same ids; the pieces are short and
//     cached per Encode call.
//  4. With special tokens, <bos> is prepended (the post-processor's template); no EOS.
//
// Decoding ([Tokenizer.Decode], [StreamDecoder]) maps ids to token strings, turns U+2581 into
// spaces and reassembles byte-fallback runs (one U+FFFD per byte when a run is not valid
// UTF-8). [RenderChat] renders a conversation with the Gemma 3 chat template.
package tokenizer
