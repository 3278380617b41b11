package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/webp"
)

// Sentinel errors, for use with [errors.Is].
var (
	// ErrFormat reports bytes that are not a valid image of their format, or a
	// preprocessor config that is not valid JSON of the expected shape.
	ErrFormat = errors.New("imageproc: invalid format")
	// ErrUnsupported reports a valid input this package does not handle: an unknown
	// image format, or a config asking for something other than bilinear resizing.
	ErrUnsupported = errors.New("imageproc: unsupported")
	// ErrTooLarge reports an image above the pixel or byte cap of [LoadLimited].
	ErrTooLarge = errors.New("imageproc: image too large")
	// ErrMismatch reports a prompt whose image markers do not match the images given.
	ErrMismatch = errors.New("imageproc: image count mismatch")
)

const (
	// MaxPixels is the default pixel cap of [Load]: 100 Mpx. A decoded 16-bit RGBA image
	// of that size takes 800 MB, which still fits the 24 GiB machines gemmatool targets,
	// while any real photo (a 48 Mpx phone camera) is well below it.
	MaxPixels = 100_000_000
	// MaxBytes is the default cap on the encoded size read by [Load]: 256 MiB, far above
	// any compressed image of MaxPixels.
	MaxBytes = 256 << 20
	// MaxDecodedBytes caps the memory that decoding and converting a small file may take:
	// an image's working set — pixels × (bytes per decoded pixel of its colour model + 4
	// for the RGB copy and alpha plane) — may not exceed the larger of MaxDecodedBytes and
	// DecodedPerEncodedByte × its encoded size. So a file under 1 MB never takes more than
	// 192 MiB (a 583 KB 10000×10000 16-bit PNG would take 1.2 GB), while a real photo, whose
	// pixels cost at most tens of bytes per encoded byte, passes at any size up to MaxPixels.
	MaxDecodedBytes = 192 << 20
	// DecodedPerEncodedByte is the decoded-to-encoded ratio allowed above MaxDecodedBytes.
	DecodedPerEncodedByte = 64
)

// workingSet estimates the bytes that decoding an image of cfg and converting it to RGB
// take: the decoded pixels in the decoder's colour model plus 4 bytes per pixel.
func workingSet(cfg image.Config) int64 {
	var bpp int64
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3
	case color.RGBAModel, color.NRGBAModel, color.NYCbCrAModel, color.CMYKModel:
		bpp = 4
	default:
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			bpp = 1
		} else {
			bpp = 8 // RGBA64, NRGBA64 and anything unknown: the widest
		}
	}
	return int64(cfg.Width) * int64(cfg.Height) * (bpp + 4)
}

// Load decodes one PNG, JPEG, GIF (first frame) or WebP image from r, sniffing the format
// from its magic bytes, and returns it with the format name ("png", "jpeg", "gif",
// "webp"). It reads at most [MaxBytes] and refuses images above [MaxPixels] before
// decoding the pixels.
func Load(r io.Reader) (image.Image, string, error) {
	return LoadLimited(r, MaxPixels, MaxBytes)
}

// LoadLimited is [Load] with explicit caps on the pixel count and the encoded size.
func LoadLimited(r io.Reader, maxPixels, maxBytes int64) (image.Image, string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("imageproc: read image: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, "", fmt.Errorf("%w: encoded image exceeds %d bytes", ErrTooLarge, maxBytes)
	}
	return decode(data, maxPixels)
}

type codec struct {
	name         string
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var (
	codecPNG  = codec{"png", png.DecodeConfig, png.Decode}
	codecJPEG = codec{"jpeg", jpeg.DecodeConfig, jpeg.Decode}
	codecGIF  = codec{"gif", gif.DecodeConfig, gif.Decode}
	codecWebP = codec{"webp", webp.DecodeConfig, webp.Decode}
)

func sniff(data []byte) (codec, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return codecPNG, true
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return codecJPEG, true
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return codecGIF, true
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return codecWebP, true
	}
	return codec{}, false
}

func decode(data []byte, maxPixels int64) (img image.Image, format string, err error) {
	c, ok := sniff(data)
	if !ok {
		head := data[:min(len(data), 8)]
		return nil, "", fmt.Errorf("%w: unknown image format (first bytes % x); want PNG, JPEG, GIF or WebP",
			ErrUnsupported, head)
	}
	cfg, err := c.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, c.name, decodeError(c.name, " header", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, c.name, fmt.Errorf("%w: %s image is %dx%d", ErrFormat, c.name, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return nil, c.name, fmt.Errorf("%w: %s image is %dx%d = %d pixels, limit %d",
			ErrTooLarge, c.name, cfg.Width, cfg.Height, px, maxPixels)
	}
	if ws, limit := workingSet(cfg), max(MaxDecodedBytes, DecodedPerEncodedByte*int64(len(data))); ws > limit {
		return nil, c.name, fmt.Errorf("%w: %s image of %dx%d pixels would take %d MiB to decode from %d bytes, limit %d MiB",
			ErrTooLarge, c.name, cfg.Width, cfg.Height, ws>>20, len(data), limit>>20)
	}
	// The standard decoders are not documented never to panic on hostile input; turn a
	// panic into an error rather than crash the caller.
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: %s decoder panicked: %v", ErrFormat, c.name, p)
		}
	}()
	img, err = c.decode(bytes.NewReader(data))
	if err != nil {
		return nil, c.name, decodeError(c.name, "", err)
	}
	// Match the pixels PIL's decoders (libjpeg-turbo, libwebp, its GIF reader) produce.
	switch m := img.(type) {
	case *image.Paletted:
		if c.name == "gif" {
			img = gifFirstFrame(data, m, cfg)
		}
	case *image.YCbCr:
		if m.Rect.Min != (image.Point{}) {
			break
		}
		switch c.name {
		case "jpeg":
			img = libjpegRGB(m)
		case "webp":
			img = libwebpRGB(m, nil, 0)
		}
	case *image.NYCbCrA:
		if c.name == "webp" && m.Rect.Min == (image.Point{}) && m.SubsampleRatio == image.YCbCrSubsampleRatio420 {
			img = libwebpRGB(&m.YCbCr, m.A, m.AStride)
		}
	}
	return img, c.name, nil
}

// gifFirstFrame makes Go's first GIF frame look like PIL's: the frame is placed on a
// canvas of the logical screen size filled with the transparent index (index 0 when the
// frame has none), and the transparent palette entry keeps its stored RGB (Go's decoder
// replaces it with transparent black) with alpha 0.
func gifFirstFrame(data []byte, m *image.Paletted, cfg image.Config) *image.Paletted {
	rawPal, trans, ok := gifFirstPalette(data)
	pal := make(color.Palette, len(m.Palette))
	copy(pal, m.Palette)
	if ok && trans >= 0 && trans < len(pal) && trans*3+2 < len(rawPal) {
		pal[trans] = color.NRGBA{rawPal[trans*3], rawPal[trans*3+1], rawPal[trans*3+2], 0}
	}
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	out := image.NewPaletted(screen, pal)
	if ok && trans >= 0 && trans < 256 {
		for i := range out.Pix {
			out.Pix[i] = uint8(trans)
		}
	}
	r := m.Bounds().Intersect(screen)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[out.PixOffset(r.Min.X, y):out.PixOffset(r.Max.X, y)], m.Pix[m.PixOffset(r.Min.X, y):m.PixOffset(r.Max.X, y)])
	}
	return out
}

// gifFirstPalette walks the GIF block structure up to the first image descriptor and
// returns the colour table that frame uses (local, else global) as RGB triples, and the
// transparent index of the graphic control extension before it (−1 if none).
func gifFirstPalette(data []byte) (pal []byte, trans int, ok bool) {
	trans = -1
	if len(data) < 13 {
		return nil, -1, false
	}
	pos := 13
	flags := data[10]
	if flags&0x80 != 0 {
		n := 3 << ((flags & 7) + 1)
		if pos+n > len(data) {
			return nil, -1, false
		}
		pal = data[pos : pos+n]
		pos += n
	}
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension
			if pos+2 > len(data) {
				return nil, -1, false
			}
			label := data[pos+1]
			pos += 2
			if label == 0xf9 && pos+5 <= len(data) && data[pos] == 4 {
				trans = -1
				if data[pos+1]&1 != 0 {
					trans = int(data[pos+4])
				}
			}
			for {
				if pos >= len(data) {
					return nil, -1, false
				}
				n := int(data[pos])
				pos++
				if n == 0 {
					break
				}
				pos += n
			}
		case 0x2c: // image descriptor
			if pos+10 > len(data) {
				return nil, -1, false
			}
			lflags := data[pos+9]
			pos += 10
			if lflags&0x80 != 0 {
				n := 3 << ((lflags & 7) + 1)
				if pos+n > len(data) {
					return nil, -1, false
				}
				pal = data[pos : pos+n]
			}
			return pal, trans, true
		default:
			return nil, -1, false
		}
	}
	return nil, -1, false
}

// decodeError wraps a decoder's error in ErrFormat as "<format>[ header]: <message>",
// dropping the "<format>: " prefix Go's decoders put on most messages.
func decodeError(format, what string, err error) error {
	msg := strings.TrimPrefix(err.Error(), format+": ")
	return fmt.Errorf("%w: %s%s: %s", ErrFormat, format, what, msg)
}
