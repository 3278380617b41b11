package quantize

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format/gguf"
	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime"
)

// TestCalibrateGoldenA checks the imatrix statistics of the runtime against a direct float64
// computation from the reference hidden states of golden case a: for every layer, the inputs
// of its linear weights are recomputed from the reference residual stream entering the layer
// (the recomputation is itself checked against the reference stream leaving the layer).
func TestCalibrateGoldenA(t *testing.T) {
	dir := "../testdata/a_text_1b_like"
	m, err := runtime.Load(testutil.ConvertOpen(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		InputIDs []int32 `json:"input_ids"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "inputs.json"))
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	// Two windows: the whole sequence and its first 20 tokens, so counts and sums accumulate.
	// Full: the second moments E[x xᵀ] are checked too.
	im, err := Calibrate(m, [][]int32{in.InputIDs, in.InputIDs[:20]}, CalibrateOptions{ChunkSize: 32, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		D       int     `json:"hidden_size"`
		H       int     `json:"num_attention_heads"`
		K       int     `json:"num_key_value_heads"`
		HD      int     `json:"head_dim"`
		I       int     `json:"intermediate_size"`
		L       int     `json:"num_hidden_layers"`
		Theta   float64 `json:"rope_theta"`
		Local   float64 `json:"rope_local_base_freq"`
		Window  int     `json:"sliding_window"`
		Pattern int     `json:"sliding_window_pattern"`
		QScalar float64 `json:"query_pre_attn_scalar"`
		Eps     float64 `json:"rms_norm_eps"`
	}
	b, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	w := testutil.ReadSafetensors(t, filepath.Join(dir, "model.safetensors"))
	hs := testutil.ReadSafetensors(t, filepath.Join(dir, "expected.safetensors"))["hidden_states"]
	n, d := len(in.InputIDs), cfg.D
	for l := range cfg.L {
		p := fmt.Sprintf("model.layers.%d.", l)
		wt := func(s string) []float32 { return w[p+s+".weight"].Data }
		global := (l+1)%cfg.Pattern == 0
		// want[input] = Σ x² for the full window and for its first 20 positions (causal: the
		// prefix's activations are the same).
		want := map[runtime.LinearInput][]float64{}
		wantH := map[runtime.LinearInput][]float64{} // Σ x xᵀ, dense
		add := func(k runtime.LinearInput, x [][]float64) {
			c := len(x[0])
			s, hh := make([]float64, c), make([]float64, c*c)
			for i, row := range x {
				reps := 1
				if i < 20 {
					reps = 2
				}
				for j, v := range row {
					s[j] += float64(reps) * v * v
					for jj, vv := range row {
						hh[j*c+jj] += float64(reps) * v * vv
					}
				}
			}
			want[k], wantH[k] = s, hh
		}
		h := make([][]float64, n)
		for i := range n {
			h[i] = f64(hs.Data[(l*n+i)*d : (l*n+i+1)*d])
		}
		xa := mapRows(h, func(r []float64) []float64 { return rms(r, wt("input_layernorm"), cfg.Eps) })
		add(runtime.InAttn, xa)
		q := mapRows(xa, func(r []float64) []float64 { return matvec(wt("self_attn.q_proj"), r) })
		k := mapRows(xa, func(r []float64) []float64 { return matvec(wt("self_attn.k_proj"), r) })
		v := mapRows(xa, func(r []float64) []float64 { return matvec(wt("self_attn.v_proj"), r) })
		theta := cfg.Local
		if global {
			theta = cfg.Theta
		}
		hd := cfg.HD
		headNormRope := func(x []float64, nh int, norm []float32, pos int) {
			for j := range nh {
				r := x[j*hd : (j+1)*hd]
				copy(r, rms(r, norm, cfg.Eps))
				for i := range hd / 2 {
					a := float64(pos) * math.Pow(theta, -2*float64(i)/float64(hd))
					x0, x1 := r[i], r[i+hd/2]
					r[i], r[i+hd/2] = x0*math.Cos(a)-x1*math.Sin(a), x1*math.Cos(a)+x0*math.Sin(a)
				}
			}
		}
		for i := range n {
			headNormRope(q[i], cfg.H, wt("self_attn.q_norm"), i)
			headNormRope(k[i], cfg.K, wt("self_attn.k_norm"), i)
		}
		att := make([][]float64, n)
		for i := range n {
			att[i] = make([]float64, cfg.H*hd)
			for j := range cfg.H {
				g := j / (cfg.H / cfg.K)
				first := 0
				if !global {
					first = max(0, i-cfg.Window+1)
				}
				sc := make([]float64, i+1-first)
				mx := math.Inf(-1)
				for u := first; u <= i; u++ {
					var s float64
					for e := range hd {
						s += q[i][j*hd+e] * k[u][g*hd+e]
					}
					sc[u-first] = s / math.Sqrt(cfg.QScalar)
					mx = max(mx, sc[u-first])
				}
				var z float64
				for u := range sc {
					sc[u] = math.Exp(sc[u] - mx)
					z += sc[u]
				}
				for u := first; u <= i; u++ {
					for e := range hd {
						att[i][j*hd+e] += sc[u-first] / z * v[u][g*hd+e]
					}
				}
			}
		}
		add(runtime.InAttnOut, att)
		for i := range n {
			o := rms(matvec(wt("self_attn.o_proj"), att[i]), wt("post_attention_layernorm"), cfg.Eps)
			for j := range o {
				h[i][j] += o[j]
			}
		}
		xf := mapRows(h, func(r []float64) []float64 { return rms(r, wt("pre_feedforward_layernorm"), cfg.Eps) })
		add(runtime.InFFN, xf)
		act := mapRows(xf, func(r []float64) []float64 {
			g, u := matvec(wt("mlp.gate_proj"), r), matvec(wt("mlp.up_proj"), r)
			for j := range g {
				x := g[j]
				g[j] = 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) * u[j]
			}
			return g
		})
		add(runtime.InFFNDown, act)
		// The recomputed layer must reproduce the reference output.
		var errMax, refMax float64
		for i := range n {
			o := rms(matvec(wt("mlp.down_proj"), act[i]), wt("post_feedforward_layernorm"), cfg.Eps)
			for j := range o {
				ref := float64(hs.Data[((l+1)*n+i)*d+j])
				errMax = max(errMax, math.Abs(h[i][j]+o[j]-ref))
				refMax = max(refMax, math.Abs(ref))
			}
		}
		if errMax > 1e-5*refMax {
			t.Fatalf("layer %d: the test's float64 layer is off the reference by %g (max %g)", l, errMax, refMax)
		}
		for inp, ws := range want {
			for _, name := range inp.Tensors() {
				e := im.Entries[fmt.Sprintf("text.blk.%d.%s", l, name)]
				if e == nil {
					t.Fatalf("layer %d: no entry for %s", l, name)
				}
				if e.Count != int64(n+20) {
					t.Errorf("layer %d %s: count %d, want %d", l, name, e.Count, n+20)
				}
				var worst, top float64
				for j := range ws {
					worst = max(worst, math.Abs(e.SumSq[j]-ws[j]))
					top = max(top, ws[j])
				}
				if worst > 1e-4*top || len(e.SumSq) != len(ws) {
					t.Errorf("layer %d %s: Σx² off by %g (max %g, %d columns)", l, name, worst, top, len(e.SumSq))
				}
			}
			// One moment group per input, naming its weights, holding Σ x xᵀ / count.
			names := layerTensors(l, inp)
			g := im.SecondMoments(names[0])
			if g == nil || !slices.Equal(g.Tensors, names) || g.Count != int64(n+20) || g.Dim != len(ws) {
				t.Fatalf("layer %d input %v: moment group %+v", l, names, g)
			}
			hh, c := wantH[inp], len(ws)
			dense := g.Dense()
			var worst, top float64
			for j := range c * c {
				wv := hh[j] / float64(n+20)
				worst = max(worst, math.Abs(dense[j]-wv))
				top = max(top, math.Abs(wv))
			}
			if worst > 1e-4*top {
				t.Errorf("layer %d %v: E[x xᵀ] off by %g (max %g)", l, names, worst, top)
			}
		}
	}
	if len(im.Moments) != 4*cfg.L {
		t.Errorf("%d moment groups, want %d", len(im.Moments), 4*cfg.L)
	}
	if len(im.Entries) != 7*cfg.L {
		t.Errorf("%d entries, want %d", len(im.Entries), 7*cfg.L)
	}

	// Both file formats carry the statistics: ours exactly, llama.cpp's GGUF as float32.
	tmp := t.TempDir()
	for _, gguf := range []bool{false, true} {
		path := filepath.Join(tmp, fmt.Sprint("m", gguf))
		if err := WriteImatrix(path, im, gguf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadImatrix(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Entries) != len(im.Entries) || back.Chunks != 2 || back.ChunkSize != 32 {
			t.Fatalf("gguf %v: %d entries, chunks %d/%d", gguf, len(back.Entries), back.Chunks, back.ChunkSize)
		}
		for name, e := range im.Entries {
			g := back.Entries[name]
			if g == nil || g.Count != e.Count {
				t.Fatalf("gguf %v: entry %s lost or count changed", gguf, name)
			}
			for j, s := range e.SumSq {
				want := s
				if gguf {
					want = float64(float32(s))
				}
				if g.SumSq[j] != want {
					t.Fatalf("gguf %v: %s[%d] = %v, want %v", gguf, name, j, g.SumSq[j], want)
				}
			}
		}
		// Ours keeps the second moments exactly (version 2); llama.cpp's has no place for them.
		if gguf {
			if len(back.Moments) != 0 {
				t.Fatalf("GGUF: %d moment groups read back", len(back.Moments))
			}
			continue
		}
		if len(back.Moments) != len(im.Moments) {
			t.Fatalf("%d moment groups read back, want %d", len(back.Moments), len(im.Moments))
		}
		for i, g := range im.Moments {
			bg := back.Moments[i]
			if !slices.Equal(bg.Tensors, g.Tensors) || bg.Count != g.Count || !slices.Equal(bg.Upper, g.Upper) {
				t.Fatalf("moment group %d changed in the round trip", i)
			}
		}
	}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func mapRows(x [][]float64, f func([]float64) []float64) [][]float64 {
	out := make([][]float64, len(x))
	for i, r := range x {
		out[i] = f(r)
	}
	return out
}

// rms is Gemma's RMSNorm x / √(mean x² + eps) · (1 + w) in float64.
func rms(x []float64, w []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * r * (1 + float64(w[i]))
	}
	return out
}

// matvec is W·x for an HF [out, in] weight.
func matvec(w []float32, x []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for r := range out {
		var s float64
		for c, v := range x {
			s += float64(w[r*len(x)+c]) * v
		}
		out[r] = s
	}
	return out
}

// TestImatrixFileErrors: damaged or hostile files fail with an error naming the problem.
func TestImatrixFileErrors(t *testing.T) {
	im := &Imatrix{Chunks: 3, ChunkSize: 8, Datasets: []string{"calib.txt"}, Entries: map[string]*ImatrixEntry{
		"text.blk.0.attn_q": {SumSq: []float64{1, 2, 3}, Count: 5},
		"text.blk.0.attn_o": {SumSq: []float64{4, 0.5}, Count: 5},
	}}
	b, err := im.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalImatrix(b)
	if err != nil || back.Datasets[0] != "calib.txt" || back.Weights("text.blk.0.attn_o")[1] != 0.1 {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for i := 8; i < len(b)-4; i += 7 {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, err := UnmarshalImatrix(c); err == nil || !strings.Contains(err.Error(), "CRC") {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	for cut := 1; cut < len(b); cut += 5 {
		if _, err := UnmarshalImatrix(b[:cut]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", cut)
		}
	}
	// A huge column count with a valid CRC is refused before any allocation.
	c := bytes.Clone(b[:len(b)-4])
	i := bytes.Index(c, []byte("text.blk.0.attn_o")) + len("text.blk.0.attn_o") + 8
	binary.LittleEndian.PutUint32(c[i:], 1<<30)
	c = binary.LittleEndian.AppendUint32(c, crcOf(c))
	if _, err := UnmarshalImatrix(c); err == nil || !strings.Contains(err.Error(), "columns") {
		t.Fatalf("huge column count: %v", err)
	}
	g, err := im.MarshalGGUF()
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(g)-gguf.DefaultAlignment; cut += 3 { // the last 28 bytes are padding
		if _, err := UnmarshalGGUFImatrix(g[:cut]); err == nil {
			t.Fatalf("GGUF truncated to %d bytes: no error", cut)
		}
	}
	if gm, err := UnmarshalGGUFImatrix(g); err != nil || gm.Entries["text.blk.0.attn_o"].SumSq[0] != 4 {
		t.Fatalf("GGUF round trip: %v", err)
	}
}

func crcOf(b []byte) uint32 { return crc32Castagnoli(b) }
