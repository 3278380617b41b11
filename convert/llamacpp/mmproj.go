package llamacpp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/format/gguf"
	"github.com/gemmatool/gemmatool/runtime/imageproc"
)

// The multimodal projector file ("mmproj") holds the SigLIP tower and Gemma 3's projector as
// llama.cpp's clip loader (tools/mtmd/clip.cpp, projector type "gemma3") reads them:
// architecture "clip", clip.vision.* sizes, v.* and mm.* tensors. Layouts that differ from
// the text model's conventions:
//   - LayerNorm weights and biases are used as stored (no +1); the projector's RMSNorm
//     (mm.soft_emb_norm) is stored as 1+w like the text norms;
//   - the patch and position embeddings are F32 (ggml's im2col convolution takes an F16 or
//     F32 kernel; F32 holds every BF16/F16 value exactly), 1-D tensors are F32;
//   - mm.input_projection.weight is the Hugging Face [vision, text] matrix, i.e. the
//     transpose of gemmatool's [text, vision] mm.input_proj, written in F32 (a quantized
//     source is decoded, which is exact in F32) or in its own plain type.
// Gemma 3's image token ids are kept in gemmatool.mm.* keys, since a synthetic vocabulary
// (test models) has no token strings to find them by.

var visionNames = []nameRule{
	{"vision.patch_embd", "v.patch_embd.weight", false},
	{"vision.patch_embd.bias", "v.patch_embd.bias", false},
	{"vision.pos_embd", "v.position_embd.weight", false},
	{"vision.blk.{i}.ln1", "v.blk.{i}.ln1.weight", false},
	{"vision.blk.{i}.ln1.bias", "v.blk.{i}.ln1.bias", false},
	{"vision.blk.{i}.attn_q", "v.blk.{i}.attn_q.weight", false},
	{"vision.blk.{i}.attn_q.bias", "v.blk.{i}.attn_q.bias", false},
	{"vision.blk.{i}.attn_k", "v.blk.{i}.attn_k.weight", false},
	{"vision.blk.{i}.attn_k.bias", "v.blk.{i}.attn_k.bias", false},
	{"vision.blk.{i}.attn_v", "v.blk.{i}.attn_v.weight", false},
	{"vision.blk.{i}.attn_v.bias", "v.blk.{i}.attn_v.bias", false},
	{"vision.blk.{i}.attn_o", "v.blk.{i}.attn_out.weight", false},
	{"vision.blk.{i}.attn_o.bias", "v.blk.{i}.attn_out.bias", false},
	{"vision.blk.{i}.ln2", "v.blk.{i}.ln2.weight", false},
	{"vision.blk.{i}.ln2.bias", "v.blk.{i}.ln2.bias", false},
	{"vision.blk.{i}.ffn_up", "v.blk.{i}.ffn_up.weight", false},
	{"vision.blk.{i}.ffn_up.bias", "v.blk.{i}.ffn_up.bias", false},
	{"vision.blk.{i}.ffn_down", "v.blk.{i}.ffn_down.weight", false},
	{"vision.blk.{i}.ffn_down.bias", "v.blk.{i}.ffn_down.bias", false},
	{"vision.post_ln", "v.post_ln.weight", false},
	{"vision.post_ln.bias", "v.post_ln.bias", false},
	{"mm.input_proj", "mm.input_projection.weight", false},
	{"mm.soft_emb_norm", "mm.soft_emb_norm.weight", true},
}

const (
	keyBOI   = "gemmatool.mm.boi_token_id"
	keyEOI   = "gemmatool.mm.eoi_token_id"
	keyImage = "gemmatool.mm.image_token_id"
)

// mmTensor is one tensor of the projector file and how it is produced.
type mmTensor struct {
	info      gguf.TensorInfo
	src       format.Tensor
	norm      bool // +1 unless folded
	toF32     bool // decode to F32
	transpose bool // 2-D transpose (mm.input_proj)
}

// ExportMMProj writes the vision tower and projector of in as a llama.cpp mmproj file.
func ExportMMProj(in *format.File, out string, o ExportOptions) error {
	mc := in.Meta.Model
	if mc.Vision == nil || mc.MM == nil {
		return errorf("%s has no vision tower (a text-only model)", in.Path)
	}
	v := mc.Vision
	side := v.ImageSize / v.PatchSize
	k := int(math.Round(math.Sqrt(float64(mc.MM.TokensPerImage))))
	if k == 0 || k*k != mc.MM.TokensPerImage || side%k != 0 {
		return errorf("%s: %d tokens per image do not pool a %d×%d patch grid", in.Path, mc.MM.TokensPerImage, side, side)
	}
	folded := in.Meta.Transforms.NormPlusOneFolded
	var plan []mmTensor
	for _, src := range in.Tensors() {
		if !strings.HasPrefix(src.Name, "vision.") && !strings.HasPrefix(src.Name, "mm.") {
			continue
		}
		name, norm, ok := toGGUF(visionNames, src.Name)
		if !ok {
			return errorf("%s: tensor %q has no llama.cpp name", in.Path, src.Name)
		}
		p := mmTensor{src: src, norm: norm, info: gguf.TensorInfo{Name: name, Ne: reverseToNe(src.Shape)}}
		plain := !src.DType.Quantized()
		switch {
		case len(src.Shape) == 1 || norm || src.Name == "vision.patch_embd" || src.Name == "vision.pos_embd":
			p.info.Type, p.toF32 = gguf.F32, true
		case src.Name == "mm.input_proj":
			p.transpose = true
			p.info.Ne = []uint64{uint64(src.Shape[0]), uint64(src.Shape[1])}
			if plain {
				p.info.Type, _ = ggmlOf(src.DType)
			} else {
				p.info.Type, p.toF32 = gguf.F32, true
			}
		default:
			g, ok := ggmlOf(src.DType)
			if !ok {
				return errorf("%s: tensor %q is %v, which GGUF cannot hold; choose --requantize q8_0, q4_0 or bf16", in.Path, src.Name, src.DType)
			}
			p.info.Type = g
		}
		if (p.toF32 || p.transpose) && !plain && src.DType != format.Q8_0 && src.DType != format.Q4_0 {
			return errorf("%s: tensor %q is %v; the projector file keeps it in F32, which decoding %v would not give exactly", in.Path, src.Name, src.DType, src.DType)
		}
		plan = append(plan, p)
	}
	mean, std := [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
	if b, ok, err := in.EmbeddedFile("preprocessor_config.json"); err != nil {
		return err
	} else if ok {
		pc, err := imageproc.ParseConfig(b)
		if err != nil {
			return fmt.Errorf("%s: preprocessor_config.json: %w", in.Path, err)
		}
		mean, std = pc.Mean, pc.Std
	}
	name := in.Meta.Source.Name
	if name == "" {
		name = "gemma3"
	}
	kvs := []gguf.KV{
		gguf.String("general.architecture", "clip"),
		gguf.String("general.name", name),
		gguf.Uint32("general.file_type", fileType(mmPlanned(plan))),
		gguf.Bool("clip.has_vision_encoder", true),
		gguf.String("clip.projector_type", "gemma3"),
		gguf.Bool("clip.use_gelu", true),
		gguf.Uint32("clip.vision.image_size", uint32(v.ImageSize)),
		gguf.Uint32("clip.vision.patch_size", uint32(v.PatchSize)),
		gguf.Uint32("clip.vision.embedding_length", uint32(v.HiddenSize)),
		gguf.Uint32("clip.vision.feed_forward_length", uint32(v.IntermediateSize)),
		gguf.Uint32("clip.vision.block_count", uint32(v.NumLayers)),
		gguf.Uint32("clip.vision.projection_dim", uint32(mc.Text.HiddenSize)),
		gguf.Uint32("clip.vision.attention.head_count", uint32(v.NumHeads)),
		gguf.Float32("clip.vision.attention.layer_norm_epsilon", float32(v.LayerNormEps)),
		gguf.Float32s("clip.vision.image_mean", mean[:]),
		gguf.Float32s("clip.vision.image_std", std[:]),
		gguf.Uint32("clip.vision.projector.scale_factor", uint32(side/k)),
		gguf.Uint32(keyBOI, uint32(mc.MM.BOIToken)),
		gguf.Uint32(keyEOI, uint32(mc.MM.EOIToken)),
		gguf.Uint32(keyImage, uint32(mc.MM.ImageToken)),
	}
	infos := make([]gguf.TensorInfo, len(plan))
	for i, p := range plan {
		infos[i] = p.info
	}
	write := func(i int, w io.Writer) error { return writeMMTensor(w, plan[i], folded) }
	return writeFile(o.Context, out, kvs, infos, o.Inputs, write, nil)
}

// mmPlanned presents the matrices of plan to fileType.
func mmPlanned(plan []mmTensor) []plannedTensor {
	var out []plannedTensor
	for _, p := range plan {
		out = append(out, plannedTensor{info: p.info, norm: len(p.info.Ne) == 1 || p.toF32})
	}
	return out
}

func writeMMTensor(w io.Writer, p mmTensor, folded bool) error {
	src := p.src
	if !p.toF32 && !p.transpose {
		return writePayload(w, plannedTensor{src: src, scale: 1}, folded, ExportOptions{})
	}
	n, err := format.NumElements(src.Shape)
	if err != nil {
		return err
	}
	if p.transpose && !p.toF32 {
		// A plain type: move elements of es bytes.
		es := int64(src.DType.ElemSize())
		rows, cols := src.Shape[0], src.Shape[1]
		for c := range cols {
			for r := range rows {
				off := (r*cols + c) * es
				if _, err := w.Write(src.Data[off : off+es]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	x := make([]float32, n)
	if err := format.Dequantize(x, src.DType, src.Shape, src.Data, src.Scale); err != nil {
		return err
	}
	var b [4]byte
	put := func(v float32) error {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		_, err := w.Write(b[:])
		return err
	}
	if p.transpose {
		rows, cols := src.Shape[0], src.Shape[1]
		for c := range cols {
			for r := range rows {
				if err := put(x[r*cols+c]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, v := range x {
		if p.norm && !folded {
			v += 1
		}
		if err := put(v); err != nil {
			return err
		}
	}
	return nil
}

// visionFromMMProj reads the configuration of a gemma3 mmproj file.
func visionFromMMProj(f *gguf.File, cfg *format.ModelConfig, v *vocab) error {
	if a, _ := stringKey(f, "general.architecture"); a != "clip" {
		return fmt.Errorf("llamacpp: %s: general.architecture %q, want \"clip\": %w", f.Path, a, gguf.ErrUnsupported)
	}
	if p, _ := stringKey(f, "clip.projector_type"); p != "gemma3" {
		return fmt.Errorf("llamacpp: %s: clip.projector_type %q, want \"gemma3\": %w", f.Path, p, gguf.ErrUnsupported)
	}
	need := func(k string) (int, error) {
		u, ok := uintKey(f, k)
		if !ok || u == 0 || u > 1<<16 {
			return 0, errorf("%s: key %s missing or outside 1..%d", f.Path, k, 1<<16)
		}
		return int(u), nil
	}
	vc := &format.VisionConfig{NumChannels: 3, HiddenAct: "gelu_pytorch_tanh"}
	var err error
	for _, p := range []struct {
		k string
		v *int
	}{{"clip.vision.image_size", &vc.ImageSize}, {"clip.vision.patch_size", &vc.PatchSize},
		{"clip.vision.embedding_length", &vc.HiddenSize}, {"clip.vision.feed_forward_length", &vc.IntermediateSize},
		{"clip.vision.block_count", &vc.NumLayers}, {"clip.vision.attention.head_count", &vc.NumHeads}} {
		if *p.v, err = need(p.k); err != nil {
			return err
		}
	}
	eps, ok := floatKey(f, "clip.vision.attention.layer_norm_epsilon")
	if !ok || !(eps > 0) || math.IsInf(eps, 0) {
		return errorf("%s: clip.vision.attention.layer_norm_epsilon missing or not a positive float", f.Path)
	}
	vc.LayerNormEps = eps
	if pd, ok := uintKey(f, "clip.vision.projection_dim"); ok && int(pd) != cfg.Text.HiddenSize {
		return errorf("%s: projection_dim %d differs from the text model's embedding_length %d", f.Path, pd, cfg.Text.HiddenSize)
	}
	if pe, ok := f.Tensor("v.patch_embd.weight"); ok && len(pe.Ne) == 4 && pe.Ne[2] <= 16 {
		vc.NumChannels = int(pe.Ne[2])
	}
	merge := 4 // clip.cpp's default for Gemma 3
	if m, ok := uintKey(f, "clip.vision.projector.scale_factor"); ok {
		if m == 0 || m > 1<<10 {
			return errorf("%s: projector.scale_factor %d out of range", f.Path, m)
		}
		merge = int(m)
	}
	side := vc.ImageSize / max(vc.PatchSize, 1) / merge
	mm := &format.MMConfig{TokensPerImage: side * side}
	ids := []struct {
		key, token string
		dst        *int
	}{{keyBOI, "<start_of_image>", &mm.BOIToken}, {keyEOI, "<end_of_image>", &mm.EOIToken}, {keyImage, "<image_soft_token>", &mm.ImageToken}}
	for _, id := range ids {
		if u, ok := uintKey(f, id.key); ok && u < 1<<24 {
			*id.dst = int(u)
			continue
		}
		found := false
		if v != nil {
			for i, s := range append(append([]string(nil), v.tokens...), v.extra...) {
				if s == id.token {
					*id.dst, found = i, true
					break
				}
			}
		}
		if !found {
			return errorf("%s: no %s token in the text model's vocabulary", f.Path, id.token)
		}
	}
	cfg.Vision, cfg.MM = vc, mm
	cfg.HFClass = "Gemma3ForConditionalGeneration"
	return cfg.Validate()
}

// preprocessorJSON is the preprocessor_config.json of an imported multimodal model.
func preprocessorJSON(f *gguf.File, cfg *format.ModelConfig) ([]byte, error) {
	pc := imageproc.DefaultConfig()
	pc.Width, pc.Height = cfg.Vision.ImageSize, cfg.Vision.ImageSize
	pc.ImageSeqLength = cfg.MM.TokensPerImage
	for _, k := range []struct {
		key string
		dst *[3]float32
	}{{"clip.vision.image_mean", &pc.Mean}, {"clip.vision.image_std", &pc.Std}} {
		if x, ok := float32sKey(f, k.key); ok {
			if len(x) != 3 {
				return nil, errorf("%s: %s has %d values, want 3", f.Path, k.key, len(x))
			}
			copy(k.dst[:], x)
		}
	}
	b, err := json.Marshal(pc)
	if err != nil {
		return nil, err
	}
	if _, err := imageproc.ParseConfig(b); err != nil {
		return nil, errorf("%s: image settings: %v", f.Path, err)
	}
	return b, nil
}
