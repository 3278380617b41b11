// Package quantize encodes float32 weights into the packed tensor types of package format:
// llama.cpp's Q8_0 and Q4_0, per-channel symmetric int4 (I4), OCP FP8 E4M3 with a per-row
// scale, and gemma.cpp's SFP8 with a per-tensor scale.
//
// The encoders reproduce quant-formats.md (the project's quantization spec) bit for bit:
// Q8_0/Q4_0 bytes equal llama.cpp's reference quantizers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref; no importance matrix), SFP8 bytes equal gemma.cpp's vectorised encoder.
// Every float32 operation is rounded separately (explicit conversions stop the compiler from
// fusing a multiply and an add), so the bytes are the same on every architecture. The one
// choice beyond the spec is the I4 scale: by default a search over clipping ratios
// ([I4Search]); the spec's amax/7 is [I4AbsMax]. The payload layouts, and the reference
// decoders every encoder is tested against, are in package format (format/quant.go).
//
// [Encode] quantizes a whole tensor, spreading rows over goroutines; [EncodeRows] quantizes a
// range of rows into a preallocated payload, for tensors streamed in chunks. [ErrorStats]
// measures the error of a decoded tensor.
package quantize
