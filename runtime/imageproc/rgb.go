package imageproc

import (
	"image"
	"image/color"
)

// ToRGB converts img to 8-bit RGB the way PIL's Image.convert("RGB") converts the image
// PIL itself would have decoded from the same file:
//
//   - alpha is dropped, not composited (RGBA, LA, PA and paletted images with
//     transparency keep their stored colour);
//   - gray is replicated into the three channels;
//   - 16-bit gray saturates at 255 (PIL opens it as mode "I" or "I;16", whose conversion
//     to RGB clips instead of scaling);
//   - 16-bit colour keeps the high byte of each sample (PIL's "RGB;16B" unpacker);
//   - CMYK uses PIL's cmyk2rgb: R = (255 − K) − (C·(255 − K))/255, rounded as PIL's
//     MULDIV255;
//   - YCbCr uses Go's YCbCr→RGB conversion with replicated chroma. [Load] never returns
//     YCbCr: it converts JPEG and WebP planes the way libjpeg-turbo and libwebp do.
//
// Premultiplied Go images (*image.RGBA, *image.RGBA64 with alpha below opaque) are first
// un-premultiplied. Other image types go through [color.NRGBAModel].
func ToRGB(img image.Image) *RGB8 {
	b := img.Bounds()
	out := NewRGB8(b.Dx(), b.Dy())
	w := b.Dx()
	put := func(x, y int, r, g, bl uint8) {
		i := (y*w + x) * 3
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = r, g, bl
	}
	switch m := img.(type) {
	case *image.NRGBA:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*4]
			for x := range w {
				put(x, y, row[x*4], row[x*4+1], row[x*4+2])
			}
		}
	case *image.RGBA:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*4]
			for x := range w {
				p := row[x*4 : x*4+4]
				if p[3] == 0xff {
					put(x, y, p[0], p[1], p[2])
				} else {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					put(x, y, c.R, c.G, c.B)
				}
			}
		}
	case *image.NRGBA64:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*8]
			for x := range w {
				put(x, y, row[x*8], row[x*8+2], row[x*8+4])
			}
		}
	case *image.RGBA64:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*8]
			for x := range w {
				p := row[x*8 : x*8+8]
				if p[6] == 0xff && p[7] == 0xff {
					put(x, y, p[0], p[2], p[4])
				} else {
					c := color.NRGBA64Model.Convert(color.RGBA64{
						uint16(p[0])<<8 | uint16(p[1]), uint16(p[2])<<8 | uint16(p[3]),
						uint16(p[4])<<8 | uint16(p[5]), uint16(p[6])<<8 | uint16(p[7]),
					}).(color.NRGBA64)
					put(x, y, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
				}
			}
		}
	case *image.Gray:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				put(x, y, v, v, v)
			}
		}
	case *image.Gray16:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*2]
			for x := range w {
				v := uint8(255)
				if row[x*2] == 0 {
					v = row[x*2+1]
				}
				put(x, y, v, v, v)
			}
		}
	case *image.Paletted:
		pal := paletteRGB(m.Palette)
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, idx := range row {
				c := pal[idx]
				put(x, y, c[0], c[1], c[2])
			}
		}
	case *image.CMYK:
		for y := range b.Dy() {
			row := m.Pix[y*m.Stride : y*m.Stride+w*4]
			for x := range w {
				p := row[x*4 : x*4+4]
				nk := 255 - int(p[3])
				put(x, y, uint8(nk-mulDiv255(int(p[0]), nk)), uint8(nk-mulDiv255(int(p[1]), nk)),
					uint8(nk-mulDiv255(int(p[2]), nk)))
			}
		}
	case *image.YCbCr:
		for y := range b.Dy() {
			for x := range w {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				put(x, y, r, g, bl)
			}
		}
	case *image.NYCbCrA:
		for y := range b.Dy() {
			for x := range w {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				put(x, y, r, g, bl)
			}
		}
	default:
		for y := range b.Dy() {
			for x := range w {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				put(x, y, c.R, c.G, c.B)
			}
		}
	}
	return out
}

// mulDiv255 is PIL's MULDIV255(a, b): a·b/255 rounded to nearest, computed with shifts.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// paletteRGB expands a palette to 256 straight (non-premultiplied) RGBA entries.
// Indices beyond the palette read as opaque black.
func paletteRGB(p color.Palette) [256][4]uint8 {
	var out [256][4]uint8
	for i := range out {
		out[i] = [4]uint8{0, 0, 0, 0xff}
	}
	for i, c := range p {
		if i >= 256 {
			break
		}
		switch c := c.(type) {
		case color.NRGBA:
			out[i] = [4]uint8{c.R, c.G, c.B, c.A}
		case color.RGBA:
			if c.A == 0xff {
				out[i] = [4]uint8{c.R, c.G, c.B, c.A}
			} else {
				n := color.NRGBAModel.Convert(c).(color.NRGBA)
				out[i] = [4]uint8{n.R, n.G, n.B, n.A}
			}
		default:
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			out[i] = [4]uint8{n.R, n.G, n.B, n.A}
		}
	}
	return out
}

// CompositeOnWhite converts img to RGB the way transformers' alpha-aware convert_to_rgb
// (Idefics2, Mllama) does: PIL convert("RGBA"), Image.alpha_composite onto an opaque
// white RGBA background, convert("RGB"). It reproduces the integer arithmetic of PIL's
// ImagingAlphaComposite (7 extra fractional bits, rounded shift division by 255). For
// images without alpha the result equals [ToRGB]'s.
func CompositeOnWhite(img image.Image) *RGB8 {
	b := img.Bounds()
	var alpha []uint8 // nil when img has no alpha channel
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.NRGBA:
		alpha = make([]uint8, w*h)
		for y := range h {
			for x := range w {
				alpha[y*w+x] = m.Pix[y*m.Stride+x*4+3]
			}
		}
	case *image.NRGBA64:
		alpha = make([]uint8, w*h)
		for y := range h {
			for x := range w {
				alpha[y*w+x] = m.Pix[y*m.Stride+x*8+6]
			}
		}
	case *image.RGBA, *image.RGBA64, *image.NYCbCrA:
		alpha = make([]uint8, w*h)
		for y := range h {
			for x := range w {
				_, _, _, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				alpha[y*w+x] = uint8(a >> 8)
			}
		}
	case *image.Paletted:
		pal := paletteRGB(m.Palette)
		alpha = make([]uint8, w*h)
		for y := range h {
			for x := range w {
				alpha[y*w+x] = pal[m.Pix[y*m.Stride+x]][3]
			}
		}
	case *image.Gray, *image.Gray16, *image.CMYK, *image.YCbCr:
	default:
		alpha = make([]uint8, w*h)
		for y := range h {
			for x := range w {
				alpha[y*w+x] = color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA).A
			}
		}
	}
	out := ToRGB(img)
	if alpha == nil {
		return out
	}
	for i, a := range alpha {
		p := out.Pix[i*3 : i*3+3]
		for c := range p {
			p[c] = compositeOverWhite(p[c], a)
		}
	}
	return out
}

// compositeOverWhite is PIL's scalar alpha_composite of one straight-alpha source sample
// over an opaque white destination (dst = 255, dst alpha = 255).
func compositeOverWhite(s, a uint8) uint8 {
	const prec = 7
	if a == 0 {
		return 255
	}
	sa := uint32(a)
	blend := 255 * (255 - sa)
	outa255 := sa*255 + blend
	coef1 := sa * 255 * 255 * (1 << prec) / outa255
	coef2 := 255*(1<<prec) - coef1
	t := uint32(s)*coef1 + 255*coef2 + (0x80 << prec)
	return uint8((((t >> 8) + t) >> 8) >> prec)
}
