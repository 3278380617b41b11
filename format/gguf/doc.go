// Package gguf reads and writes GGUF files, the container of llama.cpp, ollama and LM Studio,
// version 3. It knows the container only: key-value metadata, tensor descriptors and where the
// payloads lie. What the keys and tensors mean for a Gemma 3 model is package convert/llamacpp's
// business.
//
// # Byte layout (GGUF v3, little-endian throughout)
//
//	offset 0   u32   magic: the bytes 'G' 'G' 'U' 'F'
//	       4   u32   version (3; 2 is read too, 1 is rejected)
//	       8   u64   tensor count T
//	      16   u64   key-value count K
//	      24         K key-value pairs:
//	                   string key; u32 value type; value
//	                 T tensor descriptors:
//	                   string name; u32 n_dims (1..4); n_dims × u64 ne (ne[0] fastest);
//	                   u32 GGML type; u64 offset relative to the data section
//	                 zero padding to a multiple of the alignment
//	data section     payloads, each at a multiple of the alignment (from the data start),
//	                 zero padding between them
//
// A string is a u64 byte length followed by that many UTF-8 bytes (no terminator). Value types:
// 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (one byte, 0 or 1), 8 string,
// 9 array (u32 element type, u64 count, count elements; arrays of arrays are not read),
// 10 u64, 11 i64, 12 f64.
//
// The alignment is the u32 value of key "general.alignment" (default [DefaultAlignment] = 32;
// it must be a power of two). A tensor's ne lists its dimensions innermost first: a PyTorch
// [out, in] weight has ne = [in, out]. A payload is ne[1]·ne[2]·ne[3] rows of ne[0] elements,
// each row a run of ne[0]/BlockSize blocks of the type's block bytes; [TypeInfo] gives the
// block size and bytes of every GGML type, so a reader can bound and place every payload
// without decoding it. Quantized blocks store their f16 scale first: Q8_0 is (f16 d, 32 × i8),
// 34 bytes; Q4_0 is (f16 d, 16 bytes whose low nibbles are elements 0..15 and high nibbles
// 16..31, each value nibble − 8), 18 bytes.
//
// # What the reader checks
//
// Every count, length and size read from the file is untrusted: the reader caps it ([Limits])
// and checks it against the bytes left before allocating anything, so memory stays bounded by
// the limits and the file size. It checks: magic and version; string lengths and UTF-8; key
// uniqueness; value types; array counts; tensor name uniqueness; ranks 1..4; dimensions ≥ 1
// with an overflow-checked element count; known GGML type; ne[0] a multiple of the block
// size; offsets aligned; every payload inside the file; payloads not overlapping. Errors are
// [*Error] values giving the file, the offset and, where known, the key or tensor; they unwrap
// to [ErrFormat] (structurally invalid) or [ErrUnsupported] (valid GGUF this reader does not
// handle: version 1, nested arrays).
package gguf
