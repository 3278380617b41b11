package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// Gemma 3 projection shapes [out, in].
var benchShapes = []struct {
	name       string
	rows, cols int
}{
	{"1b_q", 1024, 1152},
	{"1b_kv", 256, 1152},
	{"1b_o", 1152, 1024},
	{"1b_gate", 6912, 1152},
	{"1b_down", 1152, 6912},
	{"1b_lmhead", 262144, 1152},
	{"4b_gate", 10240, 2560},
	{"4b_down", 2560, 10240},
	{"27b_gate", 21504, 5376},
	{"27b_down", 5376, 21504},
}

func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range benchShapes {
		if testing.Short() && s.name != "1b_gate" && s.name != "1b_down" {
			continue
		}
		for _, typ := range allTypes {
			if s.cols%colAlign(typ) != 0 {
				continue
			}
			w := randMatrix(b, rng, typ, s.rows, s.cols)
			x := randVec(rng, s.cols)
			y := make([]float32, s.rows)
			b.Run(fmt.Sprintf("%s/%v", s.name, typ), func(b *testing.B) {
				forEachImplB(b, func(b *testing.B) {
					b.SetBytes(w.WeightBytes())
					b.ReportAllocs()
					for b.Loop() {
						Exec{}.MatVec(y, w, x)
					}
				})
			})
		}
	}
}

func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 512
	for _, s := range benchShapes[:5] {
		if s.name != "1b_gate" && s.name != "1b_q" {
			continue
		}
		x := randVec(rng, n*s.cols)
		y := make([]float32, n*s.rows)
		for _, typ := range []format.DType{format.F16, format.BF16, format.Q8_0, format.Q4_0, format.I4} {
			w := randMatrix(b, rng, typ, s.rows, s.cols)
			b.Run(fmt.Sprintf("%s/%v", s.name, typ), func(b *testing.B) {
				forEachImplB(b, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						Exec{}.MatMul(y, w, x, n)
					}
					b.ReportMetric(2*float64(n*s.rows*s.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			})
		}
	}
}

func BenchmarkBandwidth(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(MeasureBandwidth(512<<20, 0), "GB/s")
	}
}

// BenchmarkMatVecStream cycles through copies of the 1B gate projection (6912×1152) or down
// projection (1152×6912: long rows) totalling 256 MB, so that every product reads its weights
// from memory as a decode step does (GB/s against the memory bandwidth).
func BenchmarkMatVecStream(b *testing.B) {
	for _, s := range []struct {
		name       string
		rows, cols int
	}{{"gate", 6912, 1152}, {"down", 1152, 6912}} {
		b.Run(s.name, func(b *testing.B) { benchMatVecStream(b, s.rows, s.cols) })
	}
}

func benchMatVecStream(b *testing.B, rows, cols int) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range allTypes {
		if cols%colAlign(typ) != 0 {
			continue
		}
		w := randMatrix(b, rng, typ, rows, cols)
		ms := make([]*Matrix, max(1, int((256<<20)/w.WeightBytes())))
		for i := range ms {
			c := *w
			c.Data = append([]byte(nil), w.Data...)
			ms[i] = track(&c)
		}
		x := randVec(rng, cols)
		y := make([]float32, rows)
		for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
			if mode == ModeInt8 && !int8Type(typ) {
				continue
			}
			b.Run(typ.String()+"/"+modeName(mode), func(b *testing.B) {
				forEachImplB(b, func(b *testing.B) {
					withMode(mode, func(e Exec) {
						b.SetBytes(w.WeightBytes())
						b.ReportAllocs()
						i := 0
						for b.Loop() {
							e.MatVec(y, ms[i], x)
							i = (i + 1) % len(ms)
						}
					})
				})
			})
		}
	}
}
