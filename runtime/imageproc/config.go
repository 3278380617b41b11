package imageproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Config holds the Gemma3ImageProcessor settings of a preprocessor_config.json, with
// nulls and absent keys resolved to the values Gemma3Processor uses.
type Config struct {
	// Width and Height are the output size (size.width, size.height). Default 896×896,
	// the released Gemma 3 4B/12B/27B value.
	Width, Height int
	// Resample is the PIL filter code; only 2 (BILINEAR) is implemented.
	Resample int
	// DoResize, DoRescale and DoNormalize switch the steps of [Preprocess]; default true.
	DoResize, DoRescale, DoNormalize bool
	// RescaleFactor multiplies the 8-bit samples, in float64. Default 1/255.
	RescaleFactor float64
	// Mean and Std are image_mean and image_std rounded to float32, as numpy does when
	// it normalises a float32 image. Default 0.5 for every channel.
	Mean, Std [3]float32
	// PanAndScan is do_pan_and_scan. Default false (the processor's default when the
	// config has null).
	PanAndScan bool
	// PanAndScanMinCropSize, PanAndScanMaxNumCrops and PanAndScanMinRatio are the
	// pan-and-scan parameters; defaults 256, 4 and 1.2 (HF Gemma3ProcessorKwargs).
	PanAndScanMinCropSize int
	PanAndScanMaxNumCrops int
	PanAndScanMinRatio    float64
	// ImageSeqLength is image_seq_length, the soft tokens per image. Default 256.
	ImageSeqLength int
	// FlattenAlpha composites images with alpha onto white ([CompositeOnWhite]) instead of
	// dropping the alpha channel as Gemma 3's processor does ([ToRGB]). It is not part of
	// preprocessor_config.json; default false.
	FlattenAlpha bool
}

// Limits [ParseConfig] enforces, so that a config cannot make [Preprocess] allocate
// without bound.
const (
	// MaxSide caps Width and Height: an 8192×8192 output is 805 MB of float32, 80× the
	// 896×896 the released models use.
	MaxSide = 8192
	// MaxCrops caps PanAndScanMaxNumCrops (the released processor uses 4).
	MaxCrops = 64
	// MaxImageSeqLength caps ImageSeqLength (the released models use 256).
	MaxImageSeqLength = 1 << 16
)

// DefaultConfig returns the configuration of the released Gemma 3 preprocessor_config.json
// (896×896, bilinear, 1/255, mean = std = 0.5, no pan and scan, 256 soft tokens).
func DefaultConfig() Config {
	return Config{
		Width: 896, Height: 896,
		Resample:      2,
		DoResize:      true,
		DoRescale:     true,
		DoNormalize:   true,
		RescaleFactor: 0.00392156862745098,
		Mean:          [3]float32{0.5, 0.5, 0.5},
		Std:           [3]float32{0.5, 0.5, 0.5},

		PanAndScanMinCropSize: 256,
		PanAndScanMaxNumCrops: 4,
		PanAndScanMinRatio:    1.2,
		ImageSeqLength:        256,
	}
}

type sizeJSON struct {
	Height *int `json:"height"`
	Width  *int `json:"width"`
}

type configJSON struct {
	Size                  *sizeJSON       `json:"size"`
	Resample              *int            `json:"resample"`
	DoResize              *bool           `json:"do_resize"`
	DoRescale             *bool           `json:"do_rescale"`
	DoNormalize           *bool           `json:"do_normalize"`
	RescaleFactor         *float64        `json:"rescale_factor"`
	ImageMean             json.RawMessage `json:"image_mean"`
	ImageStd              json.RawMessage `json:"image_std"`
	DoPanAndScan          *bool           `json:"do_pan_and_scan"`
	PanAndScanMinCropSize *int            `json:"pan_and_scan_min_crop_size"`
	PanAndScanMaxNumCrops *int            `json:"pan_and_scan_max_num_crops"`
	PanAndScanMinRatio    *float64        `json:"pan_and_scan_min_ratio_to_activate"`
	ImageSeqLength        *int            `json:"image_seq_length"`
}

// ParseConfig parses a preprocessor_config.json. Keys that are absent or null take the
// [DefaultConfig] values; unknown keys are ignored. Errors wrap [ErrFormat] (not JSON of
// the expected shape, or out-of-range values) or [ErrUnsupported] (a resample filter
// other than bilinear).
func ParseConfig(b []byte) (Config, error) {
	var j configJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Config{}, fmt.Errorf("%w: config: %v", ErrFormat, err)
	}
	c := DefaultConfig()
	if j.Size != nil {
		if j.Size.Height == nil || j.Size.Width == nil {
			return Config{}, fmt.Errorf("%w: config size needs height and width", ErrUnsupported)
		}
		c.Height, c.Width = *j.Size.Height, *j.Size.Width
	}
	setInt(&c.Resample, j.Resample)
	setBool(&c.DoResize, j.DoResize)
	setBool(&c.DoRescale, j.DoRescale)
	setBool(&c.DoNormalize, j.DoNormalize)
	if j.RescaleFactor != nil {
		c.RescaleFactor = *j.RescaleFactor
	}
	var err error
	if c.Mean, err = parseTriple("image_mean", j.ImageMean, c.Mean); err != nil {
		return Config{}, err
	}
	if c.Std, err = parseTriple("image_std", j.ImageStd, c.Std); err != nil {
		return Config{}, err
	}
	setBool(&c.PanAndScan, j.DoPanAndScan)
	setInt(&c.PanAndScanMinCropSize, j.PanAndScanMinCropSize)
	setInt(&c.PanAndScanMaxNumCrops, j.PanAndScanMaxNumCrops)
	if j.PanAndScanMinRatio != nil {
		c.PanAndScanMinRatio = *j.PanAndScanMinRatio
	}
	setInt(&c.ImageSeqLength, j.ImageSeqLength)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// parseTriple reads a JSON number (applied to all channels) or a list of 3 numbers.
func parseTriple(key string, raw json.RawMessage, def [3]float32) ([3]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		v := float32(one)
		return [3]float32{v, v, v}, nil
	}
	var list []float64
	if err := json.Unmarshal(raw, &list); err != nil {
		return def, fmt.Errorf("%w: config %s: want a number or a list of 3 numbers: %v", ErrFormat, key, err)
	}
	if len(list) != 3 {
		return def, fmt.Errorf("%w: config %s: %d values, want 3", ErrFormat, key, len(list))
	}
	return [3]float32{float32(list[0]), float32(list[1]), float32(list[2])}, nil
}

// Validate checks that c is usable by [Preprocess]: sizes within [MaxSide], a bilinear
// filter, finite factors, non-zero std, pan-and-scan parameters in range.
func (c Config) Validate() error {
	if c.Width < 1 || c.Width > MaxSide || c.Height < 1 || c.Height > MaxSide {
		return fmt.Errorf("%w: config size %dx%d, want 1..%d", ErrFormat, c.Width, c.Height, MaxSide)
	}
	if c.Resample != 2 {
		return fmt.Errorf("%w: config resample %d (only 2, bilinear, is implemented)", ErrUnsupported, c.Resample)
	}
	if math.IsNaN(c.RescaleFactor) || math.IsInf(c.RescaleFactor, 0) {
		return fmt.Errorf("%w: config rescale_factor %v", ErrFormat, c.RescaleFactor)
	}
	for i := range 3 {
		m, s := float64(c.Mean[i]), float64(c.Std[i])
		if math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(s) || math.IsInf(s, 0) || s == 0 {
			return fmt.Errorf("%w: config channel %d mean %v std %v", ErrFormat, i, m, s)
		}
	}
	if c.PanAndScanMinCropSize < 1 || c.PanAndScanMinCropSize > math.MaxInt32 {
		return fmt.Errorf("%w: config pan_and_scan_min_crop_size %d, want ≥ 1", ErrFormat, c.PanAndScanMinCropSize)
	}
	if c.PanAndScanMaxNumCrops < 2 || c.PanAndScanMaxNumCrops > MaxCrops {
		return fmt.Errorf("%w: config pan_and_scan_max_num_crops %d, want 2..%d", ErrFormat, c.PanAndScanMaxNumCrops, MaxCrops)
	}
	if r := c.PanAndScanMinRatio; math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
		return fmt.Errorf("%w: config pan_and_scan_min_ratio_to_activate %v, want > 0", ErrFormat, r)
	}
	if c.ImageSeqLength < 1 || c.ImageSeqLength > MaxImageSeqLength {
		return fmt.Errorf("%w: config image_seq_length %d, want 1..%d", ErrFormat, c.ImageSeqLength, MaxImageSeqLength)
	}
	return nil
}

// MarshalJSON writes c in the preprocessor_config.json schema that [ParseConfig] reads
// (FlattenAlpha, which has no key there, is not written).
func (c Config) MarshalJSON() ([]byte, error) {
	triple := func(v [3]float32) []float64 { return []float64{float64(v[0]), float64(v[1]), float64(v[2])} }
	return json.Marshal(map[string]any{
		"image_processor_type":               "Gemma3ImageProcessor",
		"processor_class":                    "Gemma3Processor",
		"size":                               map[string]int{"height": c.Height, "width": c.Width},
		"resample":                           c.Resample,
		"do_resize":                          c.DoResize,
		"do_rescale":                         c.DoRescale,
		"do_normalize":                       c.DoNormalize,
		"rescale_factor":                     c.RescaleFactor,
		"image_mean":                         triple(c.Mean),
		"image_std":                          triple(c.Std),
		"do_pan_and_scan":                    c.PanAndScan,
		"pan_and_scan_min_crop_size":         c.PanAndScanMinCropSize,
		"pan_and_scan_max_num_crops":         c.PanAndScanMaxNumCrops,
		"pan_and_scan_min_ratio_to_activate": c.PanAndScanMinRatio,
		"image_seq_length":                   c.ImageSeqLength,
	})
}
