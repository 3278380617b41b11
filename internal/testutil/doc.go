// Package testutil makes synthetic Gemma 3 checkpoints and reads files independently of the
// packages under test: a streaming safetensors writer and a plain reader ([WriteSafetensors],
// [ReadSafetensors]), random-weight checkpoints in the exact Hugging Face layout of a
// released size ([Synth], used by `gemmatool synth`), checkpoint surgery for tests
// ([ShardCheckpoint], [CopyDir]), and a from-the-spec parser of gemmatool files ([ParseGMTF])
// that shares no code with the format package.
package testutil
