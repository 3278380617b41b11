package vision

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// BenchmarkEncode times the tower and projector on one image of random pixels. It needs a
// model file with a vision tower in GEMMATOOL_BENCH_VISION_MODEL, for example
// `gemmatool synth --size 4b --layers 2 --vision-layers 27 -o s4b && gemmatool convert s4b -o s4b.gmt`;
// GEMMATOOL_BENCH_VISION_ACT=bf16 runs ModeBF16.
func BenchmarkEncode(b *testing.B) {
	path := os.Getenv("GEMMATOOL_BENCH_VISION_MODEL")
	if path == "" {
		b.Skip("GEMMATOOL_BENCH_VISION_MODEL not set")
	}
	f, err := format.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw, err := Load(f)
	if err != nil {
		b.Fatal(err)
	}
	c := tw.Cfg
	px := make([]float32, c.NumChannels*c.ImageSize*c.ImageSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range px {
		px[i] = float32(rng.Float64()*2 - 1)
	}
	var e kernel.Exec
	if os.Getenv("GEMMATOOL_BENCH_VISION_ACT") == "bf16" {
		e.Mode = kernel.ModeBF16
	}
	for b.Loop() {
		if _, err := tw.Encode(e, px, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}
