package imageproc

import (
	"fmt"
	"math"
)

// RGB8 is an 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B with no
// padding: the sample of channel c at (x, y) is Pix[(y*W+x)*3+c].
type RGB8 struct {
	W, H int
	Pix  []uint8
}

// NewRGB8 returns a black w×h image. It panics if w or h is negative (programmer error);
// callers that size images from input check [MaxPixels] first.
func NewRGB8(w, h int) *RGB8 {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imageproc.NewRGB8: negative size %dx%d", w, h))
	}
	return &RGB8{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// Crop returns a copy of the part of m inside x0 ≤ x < x1, y0 ≤ y < y1, clipped to m
// (like numpy slicing, so a rectangle running past the edge gives a smaller image).
func (m *RGB8) Crop(x0, y0, x1, y1 int) *RGB8 {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, m.W), min(y1, m.H)
	if x1 < x0 {
		x1 = x0
	}
	if y1 < y0 {
		y1 = y0
	}
	out := NewRGB8(x1-x0, y1-y0)
	for y := y0; y < y1; y++ {
		copy(out.Pix[(y-y0)*out.W*3:(y-y0+1)*out.W*3], m.Pix[(y*m.W+x0)*3:(y*m.W+x1)*3])
	}
	return out
}

// precisionBits is the number of fractional bits of PIL's fixed-point resampling
// coefficients (Resample.c PRECISION_BITS = 32 − 8 − 2): 8 bits for the sample, 2 spare
// bits for filters with negative lobes, in a 32-bit accumulator.
const precisionBits = 32 - 8 - 2

// bilinearSupport is the half-width of PIL's triangle filter at scale 1.
const bilinearSupport = 1.0

func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// coeffs is the resampling plan of one axis: output sample i reads
// in[start[i] : start[i]+count[i]] with weights k[i*ksize : i*ksize+count[i]].
type coeffs struct {
	ksize        int
	start, count []int
	k            []int32
}

// bilinearCoeffs computes PIL's precompute_coeffs for the triangle filter over the whole
// input range [0, inSize) followed by normalize_coeffs_8bpc. The float64 expressions
// keep PIL's operation order so that every coefficient rounds the same way.
func bilinearCoeffs(inSize, outSize int) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := bilinearSupport * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		ksize: ksize,
		start: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
	}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := range outSize {
		center := (float64(xx) + 0.5) * scale
		xmin := int(center - support + 0.5) // C (int) cast: truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		n := xmax - xmin
		ww := 0.0
		for x := range n {
			w[x] = bilinearFilter((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		kk := c.k[xx*ksize : xx*ksize+ksize]
		for x := range n {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				kk[x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		c.start[xx] = xmin
		c.count[xx] = n
	}
	return c
}

// clip8 turns a fixed-point accumulator into a sample, saturating like PIL's clip8
// lookup table.
func clip8(ss int32) uint8 {
	v := ss >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeBilinear returns src resized to w×h as PIL's
// Image.resize((w, h), Image.BILINEAR, reducing_gap=None) does on an RGB image, bit for
// bit: first a horizontal pass into an 8-bit intermediate holding only the rows the
// vertical pass reads, then a vertical pass. A pass whose size does not change is
// skipped; if neither changes the result is a copy. It panics if w or h is not positive
// or src is empty (programmer error: [Preprocess] checks sizes).
func ResizeBilinear(src *RGB8, w, h int) *RGB8 {
	if w <= 0 || h <= 0 || src.W <= 0 || src.H <= 0 {
		panic(fmt.Sprintf("imageproc.ResizeBilinear: %dx%d -> %dx%d", src.W, src.H, w, h))
	}
	if len(src.Pix) != src.W*src.H*3 {
		panic(fmt.Sprintf("imageproc.ResizeBilinear: len(Pix) = %d, want %d", len(src.Pix), src.W*src.H*3))
	}
	needH := w != src.W
	needV := h != src.H
	if !needH && !needV {
		out := NewRGB8(w, h)
		copy(out.Pix, src.Pix)
		return out
	}
	vc := bilinearCoeffs(src.H, h)
	in := src
	if needH {
		first := vc.start[0]
		last := vc.start[h-1] + vc.count[h-1]
		hc := bilinearCoeffs(src.W, w)
		tmp := NewRGB8(w, last-first)
		resampleRows(tmp, src, first, hc)
		for i := range vc.start {
			vc.start[i] -= first
		}
		in = tmp
	}
	if !needV {
		return in
	}
	out := NewRGB8(in.W, h)
	resampleCols(out, in, vc)
	return out
}

// resampleRows is PIL's ImagingResampleHorizontal_8bpc for 3 bands: row y of dst is
// computed from row y+offset of src.
func resampleRows(dst, src *RGB8, offset int, c coeffs) {
	const half = 1 << (precisionBits - 1)
	for y := range dst.H {
		srow := src.Pix[(y+offset)*src.W*3 : (y+offset+1)*src.W*3]
		drow := dst.Pix[y*dst.W*3 : (y+1)*dst.W*3]
		for xx := range dst.W {
			k := c.k[xx*c.ksize : xx*c.ksize+c.count[xx]]
			s := srow[c.start[xx]*3 : (c.start[xx]+len(k))*3]
			var s0, s1, s2 int32 = half, half, half
			for i, kv := range k {
				p := s[i*3 : i*3+3 : i*3+3]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
			}
			drow[xx*3] = clip8(s0)
			drow[xx*3+1] = clip8(s1)
			drow[xx*3+2] = clip8(s2)
		}
	}
}

// resampleCols is PIL's ImagingResampleVertical_8bpc for 3 bands.
func resampleCols(dst, src *RGB8, c coeffs) {
	const half = 1 << (precisionBits - 1)
	rowLen := src.W * 3
	acc := make([]int32, rowLen)
	for yy := range dst.H {
		for i := range acc {
			acc[i] = half
		}
		k := c.k[yy*c.ksize : yy*c.ksize+c.count[yy]]
		for i, kv := range k {
			srow := src.Pix[(c.start[yy]+i)*rowLen : (c.start[yy]+i+1)*rowLen]
			a := acc[:len(srow)]
			for x, p := range srow {
				a[x] += int32(p) * kv
			}
		}
		drow := dst.Pix[yy*rowLen : (yy+1)*rowLen]
		for x, v := range acc {
			drow[x] = clip8(v)
		}
	}
}
