package quantize

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// QAT is what is known about a checkpoint's quantization-aware training.
type QAT struct {
	// Target is "q4_0" (trained for llama.cpp's Q4_0, blocks of 32), "i4" (trained for
	// per-channel int4), or "" when no QAT was detected.
	Target string
	// Evidence says where the target was read, for reports and warnings.
	Evidence string
}

// QATHints are the places a checkpoint names its training: the directory's base name, the
// config's `_name_or_path`, a README/model card, and the config's `quantization_config`
// object (raw JSON, may be nil).
type QATHints struct {
	DirName     string
	NameOrPath  string
	ModelCard   string
	QuantConfig json.RawMessage
}

var (
	// Google names its releases gemma-3-<size>-it-qat-q4_0-unquantized and
	// gemma-3-<size>-it-qat-int4-unquantized; re-uploads vary the separators.
	reQ4Name  = regexp.MustCompile(`(?i)qat[-_ ]?q4[-_]?0|q4[-_]?0[-_ ]?qat`)
	reI4Name  = regexp.MustCompile(`(?i)qat[-_ ]?int4|int4[-_ ]?qat`)
	reQATWord = regexp.MustCompile(`(?i)\bqat\b|quantization[- ]aware`)
	reQ4Word  = regexp.MustCompile(`(?i)\bq4_0\b`)
	reI4Word  = regexp.MustCompile(`(?i)\bint4\b|per[- ]channel int4`)
)

// DetectQAT recognises a QAT checkpoint from its names and metadata, never from weight
// statistics (straight-through QAT leaves weights spread uniformly between grid points, so
// the weights themselves do not tell).
func DetectQAT(h QATHints) QAT {
	for _, s := range []struct{ what, v string }{{"directory name", h.DirName}, {"_name_or_path", h.NameOrPath}} {
		if reQ4Name.MatchString(s.v) {
			return QAT{"q4_0", fmt.Sprintf("%s %q names Q4_0 QAT", s.what, s.v)}
		}
		if reI4Name.MatchString(s.v) {
			return QAT{"i4", fmt.Sprintf("%s %q names int4 QAT", s.what, s.v)}
		}
	}
	if len(h.QuantConfig) > 0 {
		var qc map[string]any
		if json.Unmarshal(h.QuantConfig, &qc) == nil {
			flat := strings.ToLower(fmt.Sprint(qc))
			if strings.Contains(flat, "qat") || strings.Contains(flat, "unquantized") {
				switch {
				case strings.Contains(flat, "q4_0"):
					return QAT{"q4_0", "quantization_config names Q4_0 QAT"}
				case strings.Contains(flat, "int4"):
					return QAT{"i4", "quantization_config names int4 QAT"}
				}
			}
		}
	}
	if h.ModelCard != "" && (reQATWord.MatchString(h.ModelCard) || reQ4Name.MatchString(h.ModelCard) || reI4Name.MatchString(h.ModelCard)) {
		switch {
		case reQ4Name.MatchString(h.ModelCard) || reQ4Word.MatchString(h.ModelCard):
			return QAT{"q4_0", "model card describes Q4_0 quantization-aware training"}
		case reI4Name.MatchString(h.ModelCard) || reI4Word.MatchString(h.ModelCard):
			return QAT{"i4", "model card describes int4 quantization-aware training"}
		}
	}
	return QAT{}
}

// AutoType is the type `--type auto` picks: the QAT target, else q8_0.
func (q QAT) AutoType() format.DType {
	switch q.Target {
	case "q4_0":
		return format.Q4_0
	case "i4":
		return format.I4
	}
	return format.Q8_0
}

// Warning returns a warning when an explicit preset contradicts the detected QAT target,
// saying what is lost; "" otherwise.
func (q QAT) Warning(preset format.DType) string {
	if q.Target == "" || preset == q.AutoType() {
		return ""
	}
	return fmt.Sprintf("this checkpoint was trained for %s (%s); storing it as %v gives up the accuracy that training bought: "+
		"its weights only keep their quality when rounded exactly as in training (use --type auto or --type %s)",
		q.Target, q.Evidence, presetName(preset), q.Target)
}

func presetName(t format.DType) string {
	if t == 0 {
		return "its source precision"
	}
	return t.String()
}
