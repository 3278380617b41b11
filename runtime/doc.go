// Package runtime loads a gemmatool file and runs the Gemma 3 text decoder on the CPU: model
// loading ([Load]), the forward pass with batched prefill and single-token decode
// ([Session.Forward]), the key/value cache ([KVCache], with ring buffers of exactly
// sliding_window slots for the sliding-window layers), sampling ([Sampler]) and the generation
// loop ([Session.Generate]).
//
// The forward pass follows the Hugging Face reference (Gemma3ForCausalLM, eager attention) as
// fixed in the project's model reference: RMSNorm with (1 + w) weights, q/k norm before RoPE,
// half-split RoPE whose angles are computed in float64 and rounded to float32 after cos/sin,
// linear RoPE scaling on global layers only, the sliding window mask q − w < kv ≤ q, attention
// scale query_pre_attn_scalar^−½, the float32 embedding scale √d, a tied LM head, the final
// logit soft-cap when set and no attention soft-cap. Activations and accumulators are float32.
//
// Every weight product goes through [kernel.Exec.MatVec] and [kernel.Exec.MatMul] with the
// session's [kernel.Exec] (activation mode and threads, from [SessionOptions]), which read the
// weights in place from the file mapping in any stored type; embedding rows are decoded on
// lookup with [kernel.DequantRow].
//
// Multimodal prompts use two hooks of [Batch]: Overrides replace the input embedding of given
// positions (image soft tokens, not scaled), and Bidi lists the runs of positions that attend to
// each other in both directions (one run per image, fed in one chunk).
package runtime
