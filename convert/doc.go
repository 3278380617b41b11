// Package convert reads Hugging Face Gemma 3 checkpoints and writes them as gemmatool files.
//
// A checkpoint is a directory with config.json (the flat text-only schema, model_type
// "gemma3_text", or the multimodal one, model_type "gemma3" with text_config and
// vision_config, where absent keys take the Hugging Face defaults), either model.safetensors
// or shards with model.safetensors.index.json, and optionally generation_config.json,
// tokenizer.json, tokenizer_config.json and preprocessor_config.json.
//
// Conversion keeps deciding apart from doing. [OpenCheckpoint] parses the config, maps the
// safetensors files read-only and validates their headers (lengths, types, offsets in range,
// no overlap, no gap; the index agrees with the shards both ways), then matches the tensors
// against one declarative table (tensorTable in table.go, the only place Hugging Face tensor
// names appear) to build a [Plan]: per tensor, source file, name, type and shape → canonical
// name, shape, output type and transform. Plans come from headers alone and are table-tested
// without weights. [Run] carries a plan out with [format.Writer], tensor by tensor in chunks
// of at most 1 Mi elements, releasing the mapped source pages of each chunk once it is
// written (madvise MADV_DONTNEED), so memory stays bounded whatever the checkpoint size.
//
// Decisions:
//   - Tensors are stored under canonical names (text.embed, text.blk.N.attn_q, vision.blk.N.ln1,
//     mm.input_proj, ...; see [ExpectedTensors]) and the canonical-to-source map is recorded
//     in the metadata (Transforms.TensorSources).
//   - Linear weights keep the Hugging Face [out, in] layout. The projector
//     multi_modal_projector.mm_input_projection_weight ([vh, d], used as x @ W) is stored
//     transposed as mm.input_proj [d, vh], so that every matrix is [out, in]; the metadata
//     lists it under Transforms.Transposed.
//   - RMSNorm weights are stored as in the checkpoint (centred at 0, applied as 1 + w).
//   - Gemma 3 ties the output head to the embedding and its files have no lm_head tensor. A
//     re-save that includes one (lm_head.weight, language_model.lm_head.weight) is accepted
//     only when it is bit-identical to the embedding, and then dropped; otherwise conversion
//     fails, since an untied head is not Gemma 3.
//   - --dtype keep writes the source types bit for bit. bf16, f16 and f32 convert (round to
//     nearest even when narrowing); norm weights and biases are never narrowed below their
//     source type, and a value that overflows f16 fails the conversion.
//   - Pre-quantized checkpoints (a quantization_config, integer or FP8 tensors, GPTQ/AWQ/
//     bitsandbytes tensor names) are refused with a message saying what they are.
//   - Stop tokens are the union of config.json's and generation_config.json's eos_token_id.
//
// Errors name the file and the tensor and unwrap to [ErrCheckpoint] or [ErrUnsupported];
// tensor-matching problems are reported all at once in a [PlanError].
package convert
