// Package format defines, reads and writes the gemmatool model file: one self-contained,
// memory-mappable file holding a Gemma 3 model's tensors (plain or quantized), its resolved
// configuration, its tokenizer and image-processor files, and where it came from.
//
// This comment is the specification. It is precise enough to write an independent reader.
//
// # Goals and non-goals
//
// Goals: tensors are used in place from a read-only mapping, with no copy and no repacking at
// load (payloads are aligned and laid out the way the kernels read them); opening costs a few
// kilobytes of reads whatever the model size; every structural fact is checked at open so that
// later code may trust offsets and lengths; the file is written in one streaming pass with
// bounded memory; a file never appears under its final name unless complete.
//
// Non-goals: in-place editing, streaming readers that cannot seek, big-endian hosts (all
// integers are little-endian and the reader reinterprets payloads in place), GGUF
// compatibility (the block types keep GGUF's values bit for bit, but not its byte order of
// scales; see Layout).
//
// # Overall layout
//
//	offset 0          header (64 bytes)
//	offset 64         data region: tensor payloads, each at a multiple of 64, zero padding between
//	                  sections: metadata, tensor directory, embedded files, tokenizer tables,
//	                  each at a multiple of 8
//	table offset      section table: count × 64-byte entries, at a multiple of 8
//	file size         end (recorded in the header)
//
// Integers are unsigned little-endian unless stated; "f32" is IEEE binary32 little-endian,
// "f16" IEEE binary16, "bf16" the top 16 bits of an f32.
//
// Padding: every byte of [64, table offset) that belongs to no payload and no section is
// padding. Each run of padding is shorter than 64 bytes (a writer only pads to the next
// boundary) and zero.
//
// # Checksums
//
// Every checksum is CRC-32C: the Castagnoli polynomial 0x1EDC6F41 (0x82F63B78 reflected),
// initial value 0xFFFFFFFF, input and output reflected, final XOR 0xFFFFFFFF — what Go's
// hash/crc32 computes with crc32.Castagnoli and the SSE4.2 crc32 instruction computes. The
// check value of the ASCII bytes "123456789" is 0xE3069283. Checksums cover the section
// table (in the header), each section's stored bytes (metadata, directory and every
// embedded file, in its table entry) and each payload (in its directory entry).
//
// # Header (64 bytes at offset 0)
//
//	off  size  field
//	0    8     magic: the bytes 'G' 'M' 'T' 'F' 0x0D 0x0A 0x1A 0x0A
//	8    2     major version (1)
//	10   2     minor version (1: the k-quant and IQ4_NL types; 2: the tokenizer tables
//	           section; a file using neither is also a valid 1.0 file)
//	12   4     header flags (0; a reader fails with ErrUnsupported on any set bit)
//	16   8     absolute offset of the section table
//	24   4     number of section table entries (1..1024 by default)
//	28   4     CRC-32C (Castagnoli) of the section table bytes
//	32   8     total file size in bytes (a mismatch means truncation or appended bytes)
//	40   24    reserved, zero (a reader fails on any other value)
//
// The magic's CR LF SUB LF tail catches text-mode transfers, as PNG's does.
//
// Versioning rule: a reader accepts any file whose major version it implements, whatever the
// minor version; a minor version only adds sections, metadata members or tensor types. A
// different major version is rejected with [ErrUnsupported].
//
// # Section table
//
// Entries of 64 bytes each, in any order:
//
//	off  size  field
//	0    4     kind: 1 metadata, 2 tensor directory, 3 embedded file, 4 tokenizer tables
//	           (since 1.2); other values reserved
//	4    4     flags: bit 0 = stored zstd-compressed (one zstd frame); bit 1 = required; other bits 0
//	8    8     absolute offset of the stored bytes (≥ 64, section data ends before the table)
//	16   8     stored length in bytes
//	24   8     raw length: length after decompression (= stored length when not compressed)
//	32   4     CRC-32C of the stored bytes
//	36   28    name: non-empty UTF-8 without NUL, then NUL padding to 28 bytes
//
// Exactly one metadata section (name "meta", flags exactly zstd + required) and one tensor
// directory section (name "tensors", flags exactly required: never compressed, so that its
// bytes are read in place) are present. Embedded files (kind 3) are zstd-compressed, and no
// two have the same name. At most one tokenizer tables section (kind 4) is present, named
// "tokenizer" with flags exactly 0 (not compressed, so it is read in place; not required,
// so that a 1.0 or 1.1 reader skips it). A section of unknown kind is skipped, unless its
// required bit is set: then the reader fails with [ErrUnsupported]. Sections start at multiples of 8 and
// may not overlap each other or any payload.
//
// Compressed sections hold one or more zstd frames (RFC 8878), which together decompress
// to exactly the raw length. A frame may omit its content size (as zstd writes from a
// pipe); its window may then be at most 8 MiB. The reader caps the raw length of a section
// (512 MiB by default) and refuses a raw length above both 16 MiB and 64 times the stored
// length (real sections compress 5–10×; small ones such as a 1 MB tokenizer_config.json up
// to about 80×), so memory follows the bytes present. It decodes with a streaming decoder whose output grows with the bytes
// actually produced (never allocated from the recorded size up front), and stops one byte
// past the recorded raw length.
//
// # Metadata section (kind 1, name "meta", zstd)
//
// A JSON object, the [Metadata] type: "format" (always "gemmatool"), "model" (the canonical
// configuration, [ModelConfig], with every Hugging Face default resolved: layer types listed
// per layer, the global-layer linear RoPE factor as a number, the EOS id list), "source"
// (checkpoint name, every input file with size and SHA-256, the checkpoint directory's
// absolute path when written, and the gemmatool file it was re-packed from, if any), "tool"
// (name and version),
// "transforms" (norm weights stored centred — applied as 1+w — unless
// norm_plus_one_folded; tensors stored transposed; canonical → source tensor names) and,
// for quantized files, "quantization" (the preset, the detected QAT target, the policy rules
// applied in order, and every quantized tensor's error: relative L2, SNR in dB, max abs).
// Readers ignore members they do not know.
//
// When the metadata carries a model configuration (any of text vocab_size, hidden_size,
// num_hidden_layers non-zero), the reader checks at open that it is consistent
// ([ModelConfig.Validate]: sizes 1..2^24, at most 1024 layers with one layer type each,
// heads a multiple of key-value heads, even head_dim, max_position_embeddings 1..2^24,
// token ids inside the vocabulary, finite non-negative RoPE bases, scaling, epsilon and
// soft-caps, a square mm_tokens_per_image dividing the patch grid) and that every tensor
// with a canonical name has the shape it implies (see Tensor names): hidden_size 10^9 with
// 64-wide tensors is an error at open, not later.
// # Embedded files (kind 3, zstd)
//
// The source checkpoint's files, byte for byte, named as in the checkpoint: "config.json",
// "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json",
// "generation_config.json" (each only when the source had it). Each is covered by its
// section's CRC-32C, which [File.VerifyChecksums] checks along with the payloads.
//
// # Tokenizer tables (kind 4, name "tokenizer", not compressed; since 1.2)
//
// The resolved tables of the tokenizer that the embedded tokenizer.json and
// tokenizer_config.json describe ([TokenizerTables]), so that a runtime builds its tokenizer
// without parsing the JSON (33 MB for Gemma 3). The embedded files stay the source of truth:
// a reader may ignore this section and parse them instead, with the same result. Writers
// store it whenever they embed a tokenizer.json that loads. Layout, at a multiple of 8:
//
//	off  size  field
//	0    4     flags (0)
//	4    4     n: token ids (1..2^22)
//	8    4     m: merges (0..2^23)
//	12   2     p: ids put before a sequence (post-processor prefix, 0..16)
//	14   2     s: ids put after it (0..16)
//	16   4     bos id
//	20   4     eos id
//	24   4     end-of-turn id (tokenizer_config.json's eos_token; the eos id without one)
//	28   4     t: chat template bytes (0..16 MiB)
//	32   8     a: token bytes (at most 4096 per id)
//	40         (n+1) × u32 token ends: 0, then the end of token i in the token bytes
//	           m × 3 × u32 merges in rank order: left id, right id, merged id
//	           p × u32 prefix ids, s × u32 suffix ids
//	           n × u8 token flags: bit 0 vocabulary entry (model.vocab), bit 1 added token,
//	           bit 2 special (dropped when decoding skips special tokens); other bits 0
//	           a bytes: the token strings back to back (spaces appear as U+2581, as stored in
//	           tokenizer.json)
//	           t bytes: the chat template, UTF-8
//
// The section is exactly 40 + 4(n+1) + 12m + 4(p+s) + n + a + t bytes. The reader checks at
// open, naming the offset of the first violation: the CRC-32C, the caps above, the length,
// token ends starting at 0, non-decreasing, at most 4096 apart and ending at a; every token
// UTF-8; a token non-empty exactly when its flags are not 0 (an id naming no token is empty
// with flags 0); special only with added; every merge id, the prefix and suffix ids and the
// bos, eos and end-of-turn ids naming a token; the template UTF-8. What needs the token
// strings as a whole (no two equal, the 256 byte-fallback tokens <0x00>…<0xFF> present) is
// checked by the tokenizer that loads the tables.
//
// # Tensor directory (kind 2, name "tensors", not compressed)
//
//	u32 count
//	count entries:
//	  u16  name length n (1..512)
//	  n    name, UTF-8, unique in the file (canonical names such as "text.blk.3.attn_q")
//	  u16  dtype (see DType values below)
//	  u8   rank r (0..8)
//	  u8   flags (0; a set bit is ErrUnsupported)
//	  r×u64 dimensions, outermost first (an [out, in] weight is stored with dims out, in)
//	  u64  absolute payload offset, a multiple of 64
//	  u64  payload length in bytes; must equal the size function of the dtype and shape
//	  u32  CRC-32C of the payload bytes
//	  f32  per-tensor scale: exactly 1.0, except for SFP8, where it is finite and > 0
//
// Nothing may follow the last entry. The reader checks at open, for every entry: known dtype
// (else [ErrUnsupported] naming the tensor), payload length = size function, offset aligned,
// payload inside [64, section table offset), no overlap with any other payload or section,
// the scale rule above, zero padding between a packed payload's codes and scales planes,
// and every I4 and FP8 row scale finite and > 0 (4 bytes per row read at open). Payload
// CRCs are checked on request ([File.VerifyChecksums], [File.VerifyTensor]), since reading
// every payload would defeat lazy mapping.
//
// # Tensor names
//
// Canonical names and the shapes the model configuration implies (D hidden_size, V
// vocab_size, I intermediate_size, H heads, K key-value heads, d head_dim; for the vision
// tower E its hidden_size, F its intermediate_size, C channels, P patch_size, N =
// (image_size/P)²; i a layer index below the layer count, written without leading zeros):
//
//	text.embed [V, D]                      text.output_norm [D]
//	text.blk.i.attn_norm, post_attn_norm, ffn_norm, post_ffn_norm [D]
//	text.blk.i.attn_q [H·d, D]   attn_k, attn_v [K·d, D]   attn_o [D, H·d]
//	text.blk.i.attn_q_norm, attn_k_norm [d]
//	text.blk.i.ffn_gate, ffn_up [I, D]     text.blk.i.ffn_down [D, I]
//	vision.patch_embd [E, C, P, P]         vision.patch_embd.bias, vision.post_ln(.bias) [E]
//	vision.pos_embd [N, E]                 mm.input_proj [D, E]   mm.soft_emb_norm [E]
//	vision.blk.i.ln1, ln2 (and .bias), attn_q/k/v/o.bias, ffn_down.bias [E]
//	vision.blk.i.attn_q, attn_k, attn_v, attn_o [E, E]
//	vision.blk.i.ffn_up [F, E] (.bias [F])  vision.blk.i.ffn_down [E, F]
//
// Other names are allowed and not checked against the configuration.
//
// # Alignment
//
// Payloads start at multiples of [Alignment] = 64 bytes, and every plane inside a payload at
// a multiple of [PlaneAlign] = 64 bytes from the payload start. 64 is the x86-64 cache line
// and the AVX-512 register width (and a multiple of every element size), so a kernel's
// aligned vector loads never straddle cache lines and the float32/uint16 views of a payload
// are always legal. Page (4 KiB) alignment would buy nothing for a file mapped as a whole and
// would waste up to 4 KiB per tensor.
//
// # Tensor types and payload layouts
//
// DType values: 1 F32, 2 F16, 3 BF16, 16 Q8_0, 17 Q4_0, 18 I4, 19 FP8 (E4M3FN), 20 SFP8, and
// since minor version 1: 21 Q4_K, 22 Q5_K, 23 Q6_K, 24 IQ4_NL, 25 Q2_K, 26 Q3_K (llama.cpp's
// k-quants and IQ4_NL, GGUF 12, 13, 14, 20, 10, 11). Values 4–15 and 27+ are reserved for later
// types.
//
// Plain types (F32, F16, BF16): elements in row-major order (last dimension fastest),
// little-endian; size = elements × 4 or × 2.
//
// Packed types see the tensor as a matrix of Rows = dims[0] and Cols = product of the other
// dims (the input axis of an [out, in] weight) and need rank ≥ 2. A payload is a codes plane
// followed by zero padding and a scales plane at ScalesOff = alignUp(codes length, 64); see
// [LayoutOf], which is the size function:
//
//	Q8_0  codes: int8 [Rows][Cols]                 scales: f16 [Rows][Cols/32]  (Cols % 32 == 0)
//	Q4_0  codes: [Rows][Cols/32][16] nibble bytes  scales: f16 [Rows][Cols/32]  (Cols % 32 == 0)
//	      byte j of a block: element j in the low nibble, element j+16 in the high nibble
//	I4    codes: [Rows][ceil(Cols/2)] bytes, element 2i low nibble, 2i+1 high    scales: f32 [Rows]
//	FP8   codes: E4M3FN [Rows][Cols]               scales: f32 [Rows]
//	SFP8  codes: [Rows][Cols]                      no scales plane; per-tensor scale in the directory
//	Q2_K … Q6_K, IQ4_NL: llama.cpp's blocks split in two planes: the codes plane holds each
//	      (super-)block's quant bytes, the scales plane its scale fields, both in llama.cpp's
//	      field order; the table (block size, bytes per plane, GGUF order) is in kquant.go
//
// Block b of row r has its scale at index r·(Cols/32)+b. Separating scales from codes keeps
// every row's codes contiguous and vector-aligned, so a kernel streams codes with full-width
// loads and the scales with one small load per block group.
//
// Element encodings. Every decoded value is one f32 product of the exact code value and the
// exact f32 scale (f16 scales widened exactly), so there is a single rounding; SFP8 then
// multiplies by the per-tensor scale.
//
//	Q8_0  y = int8(code) · f16 d of its block
//	Q4_0  y = (nibble − 8) · d: nibble 8 is zero, the range is −8..7; llama.cpp's layout
//	I4    y = (nibble − 8) · s of its row: each nibble stores q + 8 for q in −8..7 (an encoder
//	      using the amax/7 scale writes −7..7); an odd Cols pads the last high nibble with 8,
//	      which readers ignore; s is finite and > 0 (1 for an all-zero row)
//	FP8   y = E4M3(code) · s of its row, s finite and > 0. E4M3FN: bits s eeee mmm, bias 7;
//	      e ≠ 0: (1 + m/8)·2^(e−7); e = 0: (m/8)·2^−6 (subnormals); no infinities; 0x7F and
//	      0xFF are NaN (no encoder writes them); 0x80 is −0; the largest value is 448 (0x7E)
//	SFP8  y = SFP8(code) · per-tensor scale. Bits s, then the low 7 bits m:
//	      m = 0: +0 (code 0x00); code 0x80 (−0) is reserved and decodes to NaN;
//	      m = 1eeemmm ("large", m ≥ 0x40): (1 + mmm/8)·2^(eee−7), 2^−7 … 1.875;
//	      m = 0eeeemm ("small", 0 < m < 0x40): (1 + mm/4)·2^(eeee−23), 2^−23 … 1.75·2^−8;
//	      negative when s is set. Every value is exact in bf16 (gemma.cpp's switched
//	      floating point); examples: 0x01 = 1.25·2^−23, 0x40 = 2^−7, 0x7F = 1.875, 0xC0 = −2^−7.
//
// The scalar decoders of quant.go ([DecodeRow], [E4M3ToFloat32], [SFP8ToFloat32],
// [F16ToFloat32]) implement exactly this and are the reference for every fast kernel.
//
// # Reading
//
// [Open] maps the file read-only through [Map] (non-regular files are refused before they
// are opened) and checks everything above except payload checksums. Tensor data are slices
// of the mapping. If the file is truncated while mapped, reading the lost pages raises
// SIGBUS; readers of the mapping run under [Mapped.Guard] (or [File.Guard]), which turns
// that fault into an error wrapping [ErrChanged] naming the file and offset.
//
// # Writing
//
// [Create] writes the header placeholder, then each payload in turn (zero padding to 64), then
// the sections and the section table, then patches the header, fsyncs and renames the
// temporary file onto the destination. Memory use is independent of payload sizes.
package format
