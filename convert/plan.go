package convert

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// Entry is one step of a conversion plan: a source tensor and the canonical tensor it becomes.
// Plans are built from headers only.
type Entry struct {
	Name      string       // canonical name, e.g. "text.blk.3.attn_q"
	Source    string       // tensor name in the checkpoint
	File      string       // safetensors file (base name) holding it
	SrcDType  format.DType // BF16, F16 or F32
	SrcShape  []int64      // shape in the checkpoint
	Shape     []int64      // canonical shape (SrcShape reversed when Transpose)
	DType     format.DType // type written
	Transpose bool         // canonical = transpose of the 2-D source
	Keep      bool         // never narrowed below SrcDType (norm weights, biases)
	Offset    int64        // absolute offset of the source bytes in File
	Length    int64        // source bytes
}

// Rows and Cols give the canonical shape as a matrix: Rows = Shape[0] (1 for rank 0), Cols
// = the product of the other dimensions. This is [format.Layout]'s convention.
func (e *Entry) Rows() int64 {
	if len(e.Shape) == 0 {
		return 1
	}
	return e.Shape[0]
}

// Cols is the length of one canonical row.
func (e *Entry) Cols() int64 {
	c := int64(1)
	for _, d := range e.Shape[min(1, len(e.Shape)):] {
		c *= d
	}
	return c
}

// Elements is the tensor's element count.
func (e *Entry) Elements() int64 { return e.Rows() * e.Cols() }

// Plan is a whole conversion decided from the config and the safetensors headers.
type Plan struct {
	Config format.ModelConfig
	// Scheme names the tensor naming scheme found ("text-only", "multimodal", ...).
	Scheme string
	// Entries are the tensors to write, in canonical order.
	Entries []Entry
	// Tied are source tensors that are consumed without being written: an `lm_head.weight`
	// that some re-saves include although Gemma 3 ties the head to the embedding. Each must be
	// bit-identical to the entry named by its Name (checked by [Run]).
	Tied []Entry
	// Warnings are accepted oddities worth telling the user.
	Warnings []string
}

// Entry returns the planned entry with canonical name.
func (p *Plan) Entry(name string) (*Entry, bool) {
	for i := range p.Entries {
		if p.Entries[i].Name == name {
			return &p.Entries[i], true
		}
	}
	return nil, false
}

// SetTarget sets every entry's output type for target t (see [Target]).
func (p *Plan) SetTarget(t Target) error {
	tgt, err := t.dtype()
	if err != nil {
		return err
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		e.DType = outType(e.SrcDType, tgt, e.Keep)
	}
	return nil
}

// Target is the requested output type: "keep" (the source's) or one of "bf16", "f16", "f32".
type Target string

// Targets lists the accepted values of [Target].
var Targets = []Target{"keep", "bf16", "f16", "f32"}

func (t Target) dtype() (format.DType, error) {
	switch t {
	case "", "keep":
		return 0, nil
	case "bf16":
		return format.BF16, nil
	case "f16":
		return format.F16, nil
	case "f32":
		return format.F32, nil
	}
	return 0, fmt.Errorf("convert: output type %q, want keep, bf16, f16 or f32", string(t))
}

// outType decides the written type: the target, except that tensors marked keep (norm
// weights, biases) are never narrowed below their source type.
func outType(src, target format.DType, keep bool) format.DType {
	if target == 0 {
		return src
	}
	if keep && target.ElemSize() < src.ElemSize() {
		return src
	}
	return target
}

var srcTypes = map[string]format.DType{"BF16": format.BF16, "F16": format.F16, "F32": format.F32}

// quantHints recognise tensors of pre-quantized checkpoints by name suffix.
var quantHints = []struct{ suffix, what string }{
	{".qweight", "GPTQ/AWQ packed int4"}, {".qzeros", "GPTQ/AWQ zero points"}, {".g_idx", "GPTQ group index"},
	{".scales", "GPTQ/AWQ scales"}, {".weight_scale", "FP8 or compressed-tensors scales"},
	{".weight_scale_inv", "FP8 block scales"}, {".input_scale", "FP8 activation scales"},
	{".weight_packed", "compressed-tensors packed weights"}, {".weight_zero_point", "compressed-tensors zero points"},
	{".SCB", "bitsandbytes int8 scales"}, {".absmax", "bitsandbytes 4-bit scales"},
	{".quant_map", "bitsandbytes 4-bit code map"}, {".quant_state.bitsandbytes__nf4", "bitsandbytes NF4 state"},
	{".quant_state.bitsandbytes__fp4", "bitsandbytes FP4 state"},
}

var dtypeHints = map[string]string{
	"F8_E4M3": "FP8 E4M3 weights (a pre-quantized FP8 checkpoint)",
	"F8_E5M2": "FP8 E5M2 weights (a pre-quantized FP8 checkpoint)",
	"F8_E8M0": "FP8 scales (a pre-quantized MX checkpoint)",
	"F4":      "FP4 weights (a pre-quantized checkpoint)",
	"I8":      "int8 weights (a pre-quantized checkpoint, e.g. bitsandbytes int8)",
	"U8":      "uint8 data (packed 4-bit weights of a bitsandbytes or similar checkpoint)",
	"I32":     "int32 data (packed 4-bit weights of a GPTQ/AWQ checkpoint)",
	"U32":     "uint32 data (packed quantized weights)",
}

// ShardHeader is the parsed header of one safetensors file of a checkpoint.
type shardHeader struct {
	File   string // base name
	Path   string // full path, for messages
	Header *stHeader
}

var layerNum = regexp.MustCompile(`\.layers\.(\d+)\.`)

// buildPlan matches the tensors of the shards against the tensor table for configuration m.
// It reports every problem at once (missing, unexpected, misshaped, wrongly typed tensors)
// in a *PlanError; a pre-quantized checkpoint is refused on its own with [ErrUnsupported].
func buildPlan(dir string, m *format.ModelConfig, shards []shardHeader, target Target) (*Plan, error) {
	tgt, err := target.dtype()
	if err != nil {
		return nil, err
	}
	type src struct {
		stTensor
		file, path string
		used       bool
	}
	all := map[string]*src{}
	var names []string
	for _, sh := range shards {
		for _, t := range sh.Header.Tensors {
			if prev, dup := all[t.Name]; dup {
				return nil, errAt(sh.Path, t.Name, -1, ErrCheckpoint, "also present in %s", prev.file)
			}
			all[t.Name] = &src{stTensor: t, file: sh.File, path: sh.Path}
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)

	// A pre-quantized checkpoint: refuse it alone, saying what it is.
	for _, n := range names {
		s := all[n]
		if why, ok := dtypeHints[s.DType]; ok {
			return nil, errAt(s.path, n, -1, ErrUnsupported, "dtype %s: %s; convert needs the unquantized BF16/F16/F32 weights", s.DType, why)
		}
		for _, h := range quantHints {
			if strings.HasSuffix(n, h.suffix) {
				return nil, errAt(s.path, n, -1, ErrUnsupported, "looks like %s (a pre-quantized checkpoint); convert needs the unquantized BF16/F16/F32 weights", h.what)
			}
		}
	}

	// Pick the naming scheme whose embedding is present.
	var cands []namingScheme
	for _, s := range schemes {
		if s.multimodal == (m.Vision != nil) {
			cands = append(cands, s)
		}
	}
	scheme := cands[0]
	for _, s := range cands {
		if _, ok := all[s.text+"embed_tokens.weight"]; ok {
			scheme = s
			break
		}
	}

	p := &Plan{Config: *m, Scheme: scheme.name}
	var problems []*Error
	add := func(e *Error) { problems = append(problems, e) }
	dims := dimNames(m)
	check := func(s *src, canon string, want []int64, wantDims []dim) (format.DType, bool) {
		s.used = true
		dt, ok := srcTypes[s.DType]
		if !ok {
			add(errAt(s.path, s.Name, -1, ErrUnsupported, "dtype %s, want BF16, F16 or F32", s.DType))
		}
		if !equalShape(s.Shape, want) {
			add(errAt(s.path, s.Name, -1, ErrCheckpoint, "shape %s, want %s (%s)", shapeString(s.Shape), shapeString(want), dims(wantDims)))
			ok = false
		}
		return dt, ok
	}
	for _, ex := range expectedFor(m, scheme) {
		s, found := all[ex.Source]
		if !found {
			add(errAt("", ex.Source, -1, ErrCheckpoint, "missing (it would become %s %s)", ex.Name, shapeString(ex.Shape)))
			continue
		}
		wantDims := ex.dims
		dt, ok := check(s, ex.Name, ex.SrcShape, wantDims)
		if !ok {
			continue
		}
		p.Entries = append(p.Entries, Entry{
			Name: ex.Name, Source: ex.Source, File: s.file, SrcDType: dt, SrcShape: s.Shape, Shape: ex.Shape,
			DType: outType(dt, tgt, ex.Keep), Transpose: ex.Transpose, Keep: ex.Keep, Offset: s.Begin, Length: s.End - s.Begin,
		})
	}
	// The tied head: Gemma 3 has none, but some re-saves write a copy of the embedding.
	if s, ok := all[scheme.lmHead]; ok {
		embed := expectedFor(m, scheme)[0]
		if dt, ok := check(s, "text.embed", embed.Shape, []dim{dV, dD}); ok {
			p.Tied = append(p.Tied, Entry{Name: "text.embed", Source: s.Name, File: s.file, SrcDType: dt, SrcShape: s.Shape,
				Shape: embed.Shape, DType: dt, Offset: s.Begin, Length: s.End - s.Begin})
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s is a copy of the tied embedding; it is checked and dropped", s.Name))
		}
	} else if !m.Text.TieEmbeddings {
		add(errAt("", scheme.lmHead, -1, ErrUnsupported, "missing: tie_word_embeddings is false, and an untied head is not Gemma 3"))
	}
	if !m.Text.TieEmbeddings {
		p.Config.Text.TieEmbeddings = true
	}
	for _, n := range names {
		s := all[n]
		if s.used {
			continue
		}
		hint := "not a Gemma 3 tensor for this config"
		if mm := layerNum.FindStringSubmatch(n); mm != nil {
			l, _ := strconv.Atoi(mm[1])
			switch {
			case strings.HasPrefix(n, scheme.text) && l >= m.Text.NumLayers:
				hint = fmt.Sprintf("layer %d, but num_hidden_layers is %d", l, m.Text.NumLayers)
			case m.Vision != nil && strings.HasPrefix(n, scheme.vision) && l >= m.Vision.NumLayers:
				hint = fmt.Sprintf("layer %d, but vision_config.num_hidden_layers is %d", l, m.Vision.NumLayers)
			}
		} else if m.Vision == nil && (strings.Contains(n, "vision_tower") || strings.Contains(n, "multi_modal_projector")) {
			hint = "a vision tensor in a text-only (gemma3_text) checkpoint"
		}
		add(errAt(s.path, n, -1, ErrCheckpoint, "unexpected: %s", hint))
	}
	if len(problems) > 0 {
		return nil, &PlanError{Dir: dir, Problems: problems}
	}
	return p, nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dimNames renders a symbolic shape with its values, e.g. "H*hd=64 × d=64 from the config".
func dimNames(m *format.ModelConfig) func([]dim) string {
	return func(ds []dim) string {
		parts := make([]string, len(ds))
		for i, d := range ds {
			parts[i] = fmt.Sprintf("%s=%d", d, d.value(m))
		}
		return strings.Join(parts, " × ") + " from config.json"
	}
}
