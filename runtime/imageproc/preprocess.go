package imageproc

import (
	"fmt"
	"image"
	"math"
)

// Preprocess converts img to RGB ([ToRGB], or [CompositeOnWhite] when cfg.FlattenAlpha)
// and runs [PreprocessRGB].
func Preprocess(img image.Image, cfg Config) (pixels [][]float32, numCrops int, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, 0, err
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, 0, fmt.Errorf("%w: preprocess: empty image %dx%d", ErrFormat, b.Dx(), b.Dy())
	}
	var rgb *RGB8
	if cfg.FlattenAlpha {
		rgb = CompositeOnWhite(img)
	} else {
		rgb = ToRGB(img)
	}
	return PreprocessRGB(rgb, cfg)
}

// PreprocessRGB runs Gemma3ImageProcessor.preprocess on one RGB image: optional pan and
// scan ([PanAndScanCrops]), then for the image and each crop, in the order
// [original, crop_1, …, crop_N], a bilinear resize to cfg.Width×cfg.Height
// ([ResizeBilinear]) and [Normalize]. Each element of pixels is one [3, H, W] float32
// tensor, channels first; numCrops is N.
func PreprocessRGB(src *RGB8, cfg Config) (pixels [][]float32, numCrops int, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, 0, err
	}
	if src.W <= 0 || src.H <= 0 || len(src.Pix) != src.W*src.H*3 {
		return nil, 0, fmt.Errorf("%w: preprocess: image %dx%d with %d bytes", ErrFormat, src.W, src.H, len(src.Pix))
	}
	images := []*RGB8{src}
	if cfg.PanAndScan {
		for i, r := range PanAndScanCrops(src.W, src.H, cfg) {
			if r.Empty() {
				return nil, 0, fmt.Errorf("%w: preprocess: pan and scan crop %d of a %dx%d image is empty",
					ErrUnsupported, i, src.W, src.H)
			}
			images = append(images, src.Crop(r.Min.X, r.Min.Y, r.Max.X, r.Max.Y))
		}
	}
	pixels = make([][]float32, len(images))
	for i, im := range images {
		if cfg.DoResize {
			im = ResizeBilinear(im, cfg.Width, cfg.Height)
		}
		pixels[i] = Normalize(im, cfg)
	}
	return pixels, len(images) - 1, nil
}

// Normalize returns src as a channels-first [3, H, W] float32 tensor. With
// cfg.DoRescale each sample is first float32(float64(v)·cfg.RescaleFactor) (numpy
// rescales in float64, then casts); with cfg.DoNormalize it then becomes (x − mean)/std
// in float32 arithmetic. This matches HF bit for bit.
func Normalize(src *RGB8, cfg Config) []float32 {
	n := src.W * src.H
	out := make([]float32, 3*n)
	var lut [3][256]float32
	for c := range 3 {
		for v := range 256 {
			x := float32(v)
			if cfg.DoRescale {
				x = float32(float64(v) * cfg.RescaleFactor)
			}
			if cfg.DoNormalize {
				x = (x - cfg.Mean[c]) / cfg.Std[c]
			}
			lut[c][v] = x
		}
	}
	r, g, b := out[:n], out[n:2*n], out[2*n:]
	for i := range n {
		p := src.Pix[i*3 : i*3+3 : i*3+3]
		r[i] = lut[0][p[0]]
		g[i] = lut[1][p[1]]
		b[i] = lut[2][p[2]]
	}
	return out
}

// PanAndScanCrops returns the pan-and-scan crop rectangles of a w×h image, row-major,
// exactly as Gemma3ImageProcessor.pan_and_scan computes them, or nil when the image is
// not elongated enough (ratio below cfg.PanAndScanMinRatio) or the crops would be smaller
// than cfg.PanAndScanMinCropSize. Rectangles are clipped to the image, so the last one
// in a row or column can be smaller than the others (and, for degenerate parameters such
// as a 5×1 image with min crop 1, empty).
func PanAndScanCrops(w, h int, cfg Config) []image.Rectangle {
	if w <= 0 || h <= 0 {
		return nil
	}
	W, H := float64(w), float64(h)
	minCrop := float64(cfg.PanAndScanMinCropSize)
	nw, nh := 1, 1
	if w >= h {
		if W/H < cfg.PanAndScanMinRatio {
			return nil
		}
		nw = cropCount(W/H, W/minCrop, cfg.PanAndScanMaxNumCrops)
	} else {
		if H/W < cfg.PanAndScanMinRatio {
			return nil
		}
		nh = cropCount(H/W, H/minCrop, cfg.PanAndScanMaxNumCrops)
	}
	cw := int(math.Ceil(W / float64(nw)))
	ch := int(math.Ceil(H / float64(nh)))
	if min(cw, ch) < cfg.PanAndScanMinCropSize {
		return nil
	}
	bounds := image.Rect(0, 0, w, h)
	rects := make([]image.Rectangle, 0, nw*nh)
	for j := range nh {
		for i := range nw {
			rects = append(rects, image.Rect(i*cw, j*ch, i*cw+cw, j*ch+ch).Intersect(bounds))
		}
	}
	return rects
}

// cropCount is the number of crops along the long side: round-half-up of the aspect
// ratio, at most floor(side / min_crop), then clamped to [2, maxCrops].
func cropCount(ratio, sidePerMin float64, maxCrops int) int {
	n := math.Floor(ratio + 0.5)
	n = min(n, math.Floor(sidePerMin))
	n = max(n, 2)
	n = min(n, float64(maxCrops))
	return int(n)
}
