// Package testutil reads files independently of the packages under test for their tests: a
// plain safetensors reader ([ReadSafetensors]), checkpoint surgery ([ShardCheckpoint],
// [CopyDir]), and a from-the-spec parser of gemmatool files ([ParseGMTF]) that shares no code
// with the format package. Random-weight checkpoints ([convert.Synth]) and the safetensors
// writer live in convert, so that the gemmatool binary does not link this package (nor
// "testing").
package testutil
