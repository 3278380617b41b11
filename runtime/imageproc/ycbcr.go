package imageproc

import (
	"image"
)

// PIL gets RGB from JPEG and lossy WebP files inside libjpeg-turbo and libwebp, which
// upsample the chroma planes with a triangle ("fancy") filter and convert YCbCr with
// their own fixed-point tables. Go's decoders return the planes as *image.YCbCr, and
// Go's colour conversion replicates chroma samples instead. The functions below redo
// the libraries' upsampling and conversion on Go's planes, so that lossy WebP (whose
// VP8 reconstruction is bit-exact by specification) matches PIL exactly, and JPEG
// differs only by the IDCT rounding of Go's decoder.

// libjpegRGB converts a decoded JPEG's YCbCr planes as libjpeg-turbo does with its
// defaults (do_fancy_upsampling, JDCT_ISLOW colour tables): jdsample.c's
// h2v1/h2v2/h1v2 fancy upsamplers (plain replication for 4:1:1, 4:1:0 and for
// chroma planes at most 2 samples wide), then jdcolor.c's ycc_rgb_convert.
func libjpegRGB(m *image.YCbCr) *image.RGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	if w == 0 || h == 0 {
		return out
	}
	cw, ch := chromaSize(m)
	cb := make([]int32, 2*cw+2)
	cr := make([]int32, 2*cw+2)
	for y := range h {
		upsampleJPEG(cb, m.Cb, m, y, cw, ch)
		upsampleJPEG(cr, m.Cr, m, y, cw, ch)
		yrow := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):]
		orow := out.Pix[y*out.Stride:]
		for x := range w {
			yy := int32(yrow[x])
			cbv, crv := cb[x], cr[x]
			orow[x*4] = clampU8(yy + jpegCrR[crv])
			orow[x*4+1] = clampU8(yy + (jpegCbG[cbv]+jpegCrG[crv])>>16)
			orow[x*4+2] = clampU8(yy + jpegCbB[cbv])
			orow[x*4+3] = 0xff
		}
	}
	return out
}

// libjpeg's colour tables (jdcolor.c build_ycc_rgb_table, SCALEBITS = 16).
var jpegCrR, jpegCbB, jpegCrG, jpegCbG [256]int32

func init() {
	const half = 1 << 15
	for i := range 256 {
		x := int32(i - 128)
		jpegCrR[i] = (91881*x + half) >> 16  // FIX(1.40200)
		jpegCbB[i] = (116130*x + half) >> 16 // FIX(1.77200)
		jpegCrG[i] = -46802 * x              // -FIX(0.71414)
		jpegCbG[i] = -22554*x + half         // -FIX(0.34414), rounding folded in
	}
}

func clampU8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// chromaSize returns the width and height of m's chroma planes over m's bounds,
// libjpeg's downsampled_width and downsampled_height (rounded up).
func chromaSize(m *image.YCbCr) (cw, ch int) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}

// chromaRow returns chroma row cy (clamped to [0, ch)) of plane p.
func chromaRow(p []uint8, m *image.YCbCr, cy, cw, ch int) []uint8 {
	cy = max(0, min(cy, ch-1))
	return p[cy*m.CStride : cy*m.CStride+cw]
}

// upsampleJPEG fills dst[0:width] with the chroma of output row y as libjpeg-turbo
// computes it.
func upsampleJPEG(dst []int32, p []uint8, m *image.YCbCr, y, cw, ch int) {
	w := m.Rect.Dx()
	// Output row y sits nearest chroma row y/2 and next to y/2−1 (even y) or y/2+1 (odd
	// y); edge rows are replicated (jdmainct.c context rows).
	near, far := y>>1, (y>>1)+1
	if y&1 == 0 {
		far = (y >> 1) - 1
	}
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		for x, v := range chromaRow(p, m, y, cw, ch)[:w] {
			dst[x] = int32(v)
		}
	case image.YCbCrSubsampleRatio422:
		in := chromaRow(p, m, y, cw, ch)
		if cw <= 2 {
			replicate(dst, in, 2, w)
			return
		}
		// h2v1_fancy_upsample: 3/4 nearer + 1/4 further sample, biases 1 and 2.
		dst[0] = int32(in[0])
		dst[1] = (3*int32(in[0]) + int32(in[1]) + 2) >> 2
		for i := 1; i < cw-1; i++ {
			v := 3 * int32(in[i])
			dst[2*i] = (v + int32(in[i-1]) + 1) >> 2
			dst[2*i+1] = (v + int32(in[i+1]) + 2) >> 2
		}
		i := cw - 1
		dst[2*i] = (3*int32(in[i]) + int32(in[i-1]) + 1) >> 2
		dst[2*i+1] = int32(in[i])
	case image.YCbCrSubsampleRatio420:
		n, f := chromaRow(p, m, near, cw, ch), chromaRow(p, m, far, cw, ch)
		if cw <= 2 {
			replicate(dst, n, 2, w)
			return
		}
		// h2v2_fancy_upsample: column sums 3·near + far, then 3/4, 1/4 across columns
		// with biases 8 and 7.
		cs := func(i int) int32 { return 3*int32(n[i]) + int32(f[i]) }
		dst[0] = (4*cs(0) + 8) >> 4
		dst[1] = (3*cs(0) + cs(1) + 7) >> 4
		for i := 1; i < cw-1; i++ {
			dst[2*i] = (3*cs(i) + cs(i-1) + 8) >> 4
			dst[2*i+1] = (3*cs(i) + cs(i+1) + 7) >> 4
		}
		i := cw - 1
		dst[2*i] = (3*cs(i) + cs(i-1) + 8) >> 4
		dst[2*i+1] = (4*cs(i) + 7) >> 4
	case image.YCbCrSubsampleRatio440:
		n, f := chromaRow(p, m, near, cw, ch), chromaRow(p, m, far, cw, ch)
		bias := int32(2)
		if y&1 == 0 {
			bias = 1
		}
		for x := range w {
			dst[x] = (3*int32(n[x]) + int32(f[x]) + bias) >> 2
		}
	case image.YCbCrSubsampleRatio411:
		replicate(dst, chromaRow(p, m, y, cw, ch), 4, w)
	case image.YCbCrSubsampleRatio410:
		replicate(dst, chromaRow(p, m, y>>1, cw, ch), 4, w)
	}
}

func replicate(dst []int32, in []uint8, factor, w int) {
	for x := range w {
		dst[x] = int32(in[min(x/factor, len(in)-1)])
	}
}

// libwebpRGB converts a lossy WebP's 4:2:0 planes as libwebp's default RGB(A) output
// does: the fancy upsampler of dsp/upsampling.c (each output chroma sample is
// (9·a + 3·b + 3·c + d + 8)/16 of its four nearest chroma samples, computed through
// libwebp's two-diagonal averages, which round differently from that formula), then
// dsp/yuv.h's VP8YuvToRgb. alpha, if not nil, is the alpha plane (stride w) to attach;
// the result is then non-premultiplied, like libwebp's MODE_RGBA.
func libwebpRGB(m *image.YCbCr, alpha []uint8, astride int) *image.NRGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	if w == 0 || h == 0 {
		return out
	}
	cw, ch := (w+1)/2, (h+1)/2
	u := make([]int32, w)
	v := make([]int32, w)
	for y := range h {
		near, far := y>>1, (y>>1)+1
		if y&1 == 0 {
			far = (y >> 1) - 1
		}
		upsampleWebP(u, chromaRow(m.Cb, m, near, cw, ch), chromaRow(m.Cb, m, far, cw, ch), w)
		upsampleWebP(v, chromaRow(m.Cr, m, near, cw, ch), chromaRow(m.Cr, m, far, cw, ch), w)
		yrow := m.Y[y*m.YStride:]
		orow := out.Pix[y*out.Stride:]
		for x := range w {
			yy := int32(yrow[x])
			orow[x*4] = webpClip8(multHi(yy, 19077) + multHi(v[x], 26149) - 14234)
			orow[x*4+1] = webpClip8(multHi(yy, 19077) - multHi(u[x], 6419) - multHi(v[x], 13320) + 8708)
			orow[x*4+2] = webpClip8(multHi(yy, 19077) + multHi(u[x], 33050) - 17685)
			orow[x*4+3] = 0xff
			if alpha != nil {
				orow[x*4+3] = alpha[y*astride+x]
			}
		}
	}
	return out
}

func multHi(v, coeff int32) int32 { return (v * coeff) >> 8 }

// webpClip8 is VP8Clip8: 6 fractional bits, saturated to [0, 255].
func webpClip8(v int32) uint8 {
	const mask = (256 << 6) - 1
	if v&^mask == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// upsampleWebP computes one output row of libwebp's fancy upsampler for one chroma
// plane: n is the nearer chroma row (weight 3/4), f the farther one. libwebp packs U and
// V into one 32-bit word; the fields cannot carry into each other, so per-plane
// arithmetic gives the same values.
func upsampleWebP(dst []int32, n, f []uint8, w int) {
	N := func(i int) int32 { return int32(n[i]) }
	F := func(i int) int32 { return int32(f[i]) }
	dst[0] = (3*N(0) + F(0) + 2) >> 2
	lastPair := (w - 1) >> 1
	for x := 1; x <= lastPair; x++ {
		avg := N(x-1) + N(x) + F(x-1) + F(x) + 8
		dst[2*x-1] = ((avg+2*(N(x)+F(x-1)))>>3 + N(x-1)) >> 1
		dst[2*x] = ((avg+2*(N(x-1)+F(x)))>>3 + N(x)) >> 1
	}
	if w&1 == 0 {
		i := w/2 - 1
		dst[w-1] = (3*N(i) + F(i) + 2) >> 2
	}
}
