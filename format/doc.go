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
//	                  sections: metadata, tensor directory, embedded files, each at a multiple of 8
//	table offset      section table: count × 64-byte entries
//	file size         end (recorded in the header)
//
// Integers are unsigned little-endian unless stated; "f32" is IEEE binary32 little-endian.
//
// # Header (64 bytes at offset 0)
//
//	off  size  field
//	0    8     magic: the bytes 'G' 'M' 'T' 'F' 0x0D 0x0A 0x1A 0x0A
//	8    2     major version (1)
//	10   2     minor version (0)
//	12   4     header flags (0; a reader fails with ErrUnsupported on any set bit)
//	16   8     absolute offset of the section table
//	24   4     number of section table entries (1..1024 by default)
//	28   4     CRC-32C (Castagnoli) of the section table bytes
//	32   8     total file size in bytes (a mismatch means truncation or appended bytes)
//	40   24    reserved, zero
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
//	0    4     kind: 1 metadata, 2 tensor directory, 3 embedded file; other values reserved
//	4    4     flags: bit 0 = stored zstd-compressed (one zstd frame); bit 1 = required; other bits 0
//	8    8     absolute offset of the stored bytes (≥ 64, section data ends before the table)
//	16   8     stored length in bytes
//	24   8     raw length: length after decompression (= stored length when not compressed)
//	32   4     CRC-32C of the stored bytes
//	36   28    name: UTF-8, NUL-padded ("meta", "tensors", or the embedded file's name)
//
// Exactly one metadata and one tensor directory section are present, both with the required
// bit set. A section of unknown kind is skipped, unless its required bit is set: then the
// reader fails with [ErrUnsupported]. Sections may not overlap each other or any payload.
// The reader caps the raw length of a section (512 MiB by default) before decompressing.
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
// # Embedded files (kind 3, zstd)
//
// The source checkpoint's files, byte for byte, named as in the checkpoint: "config.json",
// "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json",
// "generation_config.json" (each only when the source had it).
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
//	  f32  per-tensor scale (1.0 unless the dtype uses it: SFP8)
//
// Nothing may follow the last entry. The reader checks at open, for every entry: known dtype
// (else [ErrUnsupported] naming the tensor), payload length = size function, offset aligned,
// payload inside [64, section table offset), no overlap with any other payload or section,
// finite scale. Payload CRCs are checked on request ([File.VerifyChecksums]), since reading
// every payload would defeat lazy mapping.
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
// DType values: 1 F32, 2 F16, 3 BF16, 16 Q8_0, 17 Q4_0, 18 I4, 19 FP8 (E4M3FN), 20 SFP8.
// Values 4–15 and 21+ are reserved for later types.
//
// Plain types (F32, F16, BF16): elements in row-major order (last dimension fastest),
// little-endian; size = elements × 4 or × 2.
//
// Packed types see the tensor as a matrix of Rows = dims[0] and Cols = product of the other
// dims (the input axis of an [out, in] weight) and need rank ≥ 2. A payload is a codes plane
// followed by a scales plane at ScalesOff = alignUp(codes length, 64); see [LayoutOf], which
// is the size function, and the Layout paragraphs in quant.go for the element encodings:
//
//	Q8_0  codes: int8 [Rows][Cols]                 scales: f16 [Rows][Cols/32]  (Cols % 32 == 0)
//	Q4_0  codes: [Rows][Cols/32][16] nibble bytes  scales: f16 [Rows][Cols/32]  (Cols % 32 == 0)
//	      byte j of a block: element j in the low nibble, element j+16 in the high nibble
//	I4    codes: [Rows][ceil(Cols/2)] bytes, element 2i low nibble, 2i+1 high    scales: f32 [Rows]
//	FP8   codes: E4M3FN [Rows][Cols]               scales: f32 [Rows]
//	SFP8  codes: [Rows][Cols]                      no scales plane; per-tensor scale in the directory
//
// Block b of row r has its scale at index r·(Cols/32)+b. Separating scales from codes keeps
// every row's codes contiguous and vector-aligned, so a kernel streams codes with full-width
// loads and the scales with one small load per block group.
//
// # Writing
//
// [Create] writes the header placeholder, then each payload in turn (zero padding to 64), then
// the sections and the section table, then patches the header, fsyncs and renames the
// temporary file onto the destination. Memory use is independent of payload sizes.
package format
