// Package vision runs Gemma 3's image path: the SigLIP vision tower (patch embedding,
// position embedding, pre-LayerNorm encoder blocks, post-LayerNorm) and the multimodal
// projector (average pooling to mm_tokens_per_image, RMSNorm with 1+w and the vision eps,
// projection to the text width). Its output replaces the image soft-token embeddings.
//
// Every weight matmul goes through [kernel.Exec.MatMul], so any stored type works in place.
// Activations and accumulators are float32.
package vision

import (
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// Tower is a loaded vision tower and projector.
type Tower struct {
	Cfg     format.VisionConfig
	MM      format.MMConfig
	TextDim int
	side    int // patches per image side
	patches int // side²
	pool    int // pooling kernel (patches per pooled token side)
	patchW  *kernel.Matrix
	patchB  []float32
	pos     []float32 // [patches, vh]
	layers  []layer
	postW   []float32
	postB   []float32
	normW   []float32 // the projector's RMSNorm multiplier: 1 + mm.soft_emb_norm (stored 1+w when folded)
	proj    *kernel.Matrix
	headDim int
	file    *format.File // the mapping the weights may alias
}

type layer struct {
	ln1W, ln1B, ln2W, ln2B []float32
	q, k, v, o             *kernel.Matrix
	qB, kB, vB, oB         []float32
	up, down               *kernel.Matrix
	upB, downB             []float32
}

// Output holds the intermediate results the golden fixtures record, for n images.
type Output struct {
	// LastHidden is the tower output after post_layernorm: [n, patches, vh].
	LastHidden []float32
	// Pooled is the average-pooled output before the soft-embedding norm: [n, tokens, vh].
	Pooled []float32
	// Features are the projected image embeddings: [n, tokens, text hidden].
	Features []float32
}

// Load reads the tower from an open model file.
//
// A memory fault reading the mapped file (truncated while in use), while loading or later
// in [Tower.Encode], is an error wrapping [format.ErrChanged].
func Load(f *format.File) (v *Tower, err error) {
	err = f.Guard(func() error {
		var err error
		v, err = load(f)
		return err
	})
	return v, err
}

func load(f *format.File) (*Tower, error) {
	mc := f.Meta.Model
	if mc.Vision == nil || mc.MM == nil {
		return nil, fmt.Errorf("vision: %s has no vision tower (a text-only model)", f.Path)
	}
	v := &Tower{Cfg: *mc.Vision, MM: *mc.MM, TextDim: mc.Text.HiddenSize, file: f}
	c := &v.Cfg
	v.side = c.ImageSize / c.PatchSize
	v.patches = v.side * v.side
	k := int(math.Round(math.Sqrt(float64(v.MM.TokensPerImage))))
	if k*k != v.MM.TokensPerImage || v.side%k != 0 {
		return nil, fmt.Errorf("vision: %d tokens per image do not pool a %d×%d patch grid", v.MM.TokensPerImage, v.side, v.side)
	}
	v.pool = v.side / k
	v.headDim = c.HiddenSize / c.NumHeads
	vh, vi := c.HiddenSize, c.IntermediateSize
	l := loader{f: f}
	v.patchW = l.matrix("vision.patch_embd", vh, c.NumChannels*c.PatchSize*c.PatchSize)
	v.patchB = l.vector("vision.patch_embd.bias", vh)
	v.pos = l.vector("vision.pos_embd", v.patches*vh)
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("vision.blk.%d.", i)
		v.layers = append(v.layers, layer{
			ln1W: l.vector(p+"ln1", vh), ln1B: l.vector(p+"ln1.bias", vh),
			ln2W: l.vector(p+"ln2", vh), ln2B: l.vector(p+"ln2.bias", vh),
			q: l.matrix(p+"attn_q", vh, vh), k: l.matrix(p+"attn_k", vh, vh),
			v: l.matrix(p+"attn_v", vh, vh), o: l.matrix(p+"attn_o", vh, vh),
			qB: l.vector(p+"attn_q.bias", vh), kB: l.vector(p+"attn_k.bias", vh),
			vB: l.vector(p+"attn_v.bias", vh), oB: l.vector(p+"attn_o.bias", vh),
			up: l.matrix(p+"ffn_up", vi, vh), upB: l.vector(p+"ffn_up.bias", vi),
			down: l.matrix(p+"ffn_down", vh, vi), downB: l.vector(p+"ffn_down.bias", vh),
		})
	}
	v.postW = l.vector("vision.post_ln", vh)
	v.postB = l.vector("vision.post_ln.bias", vh)
	v.normW = l.vector("mm.soft_emb_norm", vh)
	if !f.Meta.Transforms.NormPlusOneFolded {
		for j := range v.normW {
			v.normW[j] = 1 + v.normW[j]
		}
	}
	v.proj = l.matrix("mm.input_proj", v.TextDim, vh)
	if l.err != nil {
		return nil, l.err
	}
	return v, nil
}

type loader struct {
	f   *format.File
	err error
}

func (l *loader) tensor(name string) (format.Tensor, bool) {
	if l.err != nil {
		return format.Tensor{}, false
	}
	t, ok := l.f.Tensor(name)
	if !ok {
		l.err = fmt.Errorf("vision: %s: tensor %q missing", l.f.Path, name)
	}
	return t, ok
}

func (l *loader) matrix(name string, rows, cols int) *kernel.Matrix {
	t, ok := l.tensor(name)
	if !ok {
		return nil
	}
	if t.Layout.Rows != int64(rows) || t.Layout.Cols != int64(cols) {
		l.err = fmt.Errorf("vision: %s: tensor %q is %d×%d, want %d×%d", l.f.Path, name, t.Layout.Rows, t.Layout.Cols, rows, cols)
		return nil
	}
	m, err := kernel.NewMatrix(t.DType, t.Shape, t.Data, t.Scale)
	if err != nil {
		l.err = fmt.Errorf("vision: %s: tensor %q: %w", l.f.Path, name, err)
	}
	return m
}

func (l *loader) vector(name string, n int) []float32 {
	t, ok := l.tensor(name)
	if !ok {
		return nil
	}
	ne, _ := format.NumElements(t.Shape)
	if ne != int64(n) {
		l.err = fmt.Errorf("vision: %s: tensor %q has %d elements, want %d", l.f.Path, name, ne, n)
		return nil
	}
	out := make([]float32, n)
	if err := format.Dequantize(out, t.DType, t.Shape, t.Data, t.Scale); err != nil {
		l.err = fmt.Errorf("vision: %s: tensor %q: %w", l.f.Path, name, err)
	}
	return out
}

// Patches returns the number of patches per image.
func (v *Tower) Patches() int { return v.patches }

// Encode runs the tower and projector on n images of pixel values, each [channels, H, W]
// float32 with H = W = image_size, concatenated. keepHidden keeps LastHidden and Pooled
// (otherwise only Features is filled). The products run as e says (activation mode, threads).
// A memory fault reading the mapped weights (the file truncated while in use) is an error
// wrapping [format.ErrChanged].
func (v *Tower) Encode(e kernel.Exec, pixels []float32, n int, keepHidden bool) (out *Output, err error) {
	err = v.guard(func() error {
		var err error
		out, err = v.encode(e, pixels, n, keepHidden, nil)
		return err
	})
	return out, err
}

// guard runs fn, which reads the weights, turning a memory fault of the file mapping into an
// error (format.File.Guard) when the weights are mapped.
func (v *Tower) guard(fn func() error) error {
	if v.file == nil || v.file.Mapped() == nil {
		return fn()
	}
	return v.file.Guard(fn)
}

// encode is Encode with an optional observer of the products' inputs.
func (v *Tower) encode(e kernel.Exec, pixels []float32, n int, keepHidden bool, obs Observer) (*Output, error) {
	c := &v.Cfg
	per := c.NumChannels * c.ImageSize * c.ImageSize
	if n <= 0 || len(pixels) != n*per {
		return nil, fmt.Errorf("vision: %d pixel values for %d images of %d×%d×%d", len(pixels), n, c.NumChannels, c.ImageSize, c.ImageSize)
	}
	vh, tok := c.HiddenSize, v.MM.TokensPerImage
	out := &Output{Features: make([]float32, n*tok*v.TextDim)}
	if keepHidden {
		out.LastHidden = make([]float32, n*v.patches*vh)
		out.Pooled = make([]float32, n*tok*vh)
	}
	s := newScratch(v)
	s.e, s.obs = e, obs
	for img := 0; img < n; img++ {
		h := s.h
		v.embed(h, pixels[img*per:(img+1)*per], s)
		for li := range v.layers {
			v.block(li, s)
		}
		layerNormRows(e, h, h, v.postW, v.postB, float32(c.LayerNormEps), v.patches)
		if keepHidden {
			copy(out.LastHidden[img*v.patches*vh:], h)
		}
		pooled := s.pooled
		v.avgPool(pooled, h)
		if keepHidden {
			copy(out.Pooled[img*tok*vh:], pooled)
		}
		normed := s.normed
		for t := 0; t < tok; t++ {
			rmsNorm(normed[t*vh:(t+1)*vh], pooled[t*vh:(t+1)*vh], v.normW, float32(c.LayerNormEps))
		}
		s.tap(-1, InProj, normed, tok)
		e.MatMul(out.Features[img*tok*v.TextDim:(img+1)*tok*v.TextDim], v.proj, normed, tok)
	}
	return out, nil
}

type scratch struct {
	e                                      kernel.Exec
	obs                                    Observer // nil unless EncodeObserved runs
	h, x, q, k, v, att, up, pooled, normed []float32
}

func newScratch(v *Tower) *scratch {
	np, vh, vi := v.patches, v.Cfg.HiddenSize, v.Cfg.IntermediateSize
	tok := v.MM.TokensPerImage
	patchLen := v.Cfg.NumChannels * v.Cfg.PatchSize * v.Cfg.PatchSize
	return &scratch{
		h: make([]float32, np*vh), x: make([]float32, np*max(vh, patchLen)), q: make([]float32, np*vh),
		k: make([]float32, np*vh), v: make([]float32, np*vh), att: make([]float32, np*vh),
		up: make([]float32, np*vi), pooled: make([]float32, tok*vh), normed: make([]float32, tok*vh),
	}
}

// embed computes the patch embedding (a matmul over flattened (c, ky, kx) patches, patch
// index = row·side + col) plus bias and position embedding into h.
func (v *Tower) embed(h, img []float32, s *scratch) {
	c := &v.Cfg
	p, side, size := c.PatchSize, v.side, c.ImageSize
	pl := c.NumChannels * p * p
	x := s.x[:v.patches*pl]
	for py := 0; py < side; py++ {
		for px := 0; px < side; px++ {
			dst := x[(py*side+px)*pl:]
			i := 0
			for ch := 0; ch < c.NumChannels; ch++ {
				for ky := 0; ky < p; ky++ {
					row := img[ch*size*size+(py*p+ky)*size+px*p:]
					copy(dst[i:i+p], row[:p])
					i += p
				}
			}
		}
	}
	s.tap(-1, InPatch, x, v.patches)
	s.e.MatMulWide(h, v.patchW, x, v.patches)
	vh := c.HiddenSize
	for t := 0; t < v.patches; t++ {
		r := h[t*vh : (t+1)*vh]
		pos := v.pos[t*vh : (t+1)*vh]
		for j := range r {
			r[j] += v.patchB[j] + pos[j]
		}
	}
}

// block runs pre-LN encoder layer li in place on s.h.
func (v *Tower) block(li int, s *scratch) {
	L := &v.layers[li]
	c := &v.Cfg
	np, vh, vi := v.patches, c.HiddenSize, c.IntermediateSize
	eps := float32(c.LayerNormEps)
	x := s.x[:np*vh]
	layerNormRows(s.e, x, s.h, L.ln1W, L.ln1B, eps, np)
	s.tap(li, InAttn, x, np)
	s.e.MatMulWideTerms(x, np, kernel.WideTerm{W: L.q, Y: s.q, Bias: L.qB},
		kernel.WideTerm{W: L.k, Y: s.k, Bias: L.kB}, kernel.WideTerm{W: L.v, Y: s.v, Bias: L.vB})
	v.attention(s)
	s.tap(li, InAttnOut, s.att, np)
	s.e.MatMulWideTerms(s.att, np, kernel.WideTerm{W: L.o, Y: s.h, Bias: L.oB, Acc: true})
	layerNormRows(s.e, x, s.h, L.ln2W, L.ln2B, eps, np)
	s.tap(li, InFFN, x, np)
	up := s.up[:np*vi]
	s.e.MatMulWideTerms(x, np, kernel.WideTerm{W: L.up, Y: up, Bias: L.upB})
	s.e.ParallelFor(np, func(lo, hi int) {
		kernel.GELU(up[lo*vi : hi*vi])
	})
	s.tap(li, InFFNDown, up, np)
	s.e.MatMulWideTerms(up, np, kernel.WideTerm{W: L.down, Y: s.h, Bias: L.downB, Acc: true})
}

// attention computes bidirectional multi-head attention over all patches into s.att:
// softmax(Qₕ Kₕᵀ · hd^−½) Vₕ per head, fused ([kernel.Exec.Attention]: no patches×patches
// score matrix).
func (v *Tower) attention(s *scratch) {
	scale := float32(1 / math.Sqrt(float64(v.headDim)))
	s.e.Attention(s.att, s.q, s.k, s.v, v.patches, v.Cfg.NumHeads, v.headDim, scale)
}

// avgPool averages pool×pool patch squares: pooled token r·k + c is the mean of patch rows
// r·pool … r·pool+pool−1 and columns c·pool … c·pool+pool−1.
func (v *Tower) avgPool(dst, h []float32) {
	vh, k, p := v.Cfg.HiddenSize, v.side/v.pool, v.pool
	inv := 1 / float32(p*p)
	for r := 0; r < k; r++ {
		for c := 0; c < k; c++ {
			o := dst[(r*k+c)*vh : (r*k+c+1)*vh]
			for j := range o {
				o[j] = 0
			}
			for dy := 0; dy < p; dy++ {
				for dx := 0; dx < p; dx++ {
					src := h[((r*p+dy)*v.side+c*p+dx)*vh:]
					for j := range o {
						o[j] += src[j]
					}
				}
			}
			for j := range o {
				o[j] *= inv
			}
		}
	}
}

// layerNormRows applies LayerNorm (γ·x̂ + β, biased variance) to n rows of len(w).
func layerNormRows(e kernel.Exec, dst, x, w, b []float32, eps float32, n int) {
	d := len(w)
	e.ParallelFor(n, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			r, o := x[t*d:(t+1)*d], dst[t*d:(t+1)*d]
			var mean float32
			for _, e := range r {
				mean += e
			}
			mean /= float32(d)
			var vs float32
			for _, e := range r {
				dv := e - mean
				vs += dv * dv
			}
			inv := float32(1 / math.Sqrt(float64(vs/float32(d)+eps)))
			for j, e := range r {
				o[j] = (e-mean)*inv*w[j] + b[j]
			}
		}
	})
}

// rmsNorm is Gemma's RMSNorm with its multiplier m = 1 + w precomputed: x / sqrt(mean(x²) + eps) · m.
func rmsNorm(dst, x, m []float32, eps float32) {
	var ss float32
	for _, e := range x {
		ss += e * e
	}
	inv := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for j, e := range x {
		dst[j] = e * inv * m[j]
	}
}
