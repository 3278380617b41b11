package convert_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

var goldens = []string{"a_text_1b_like", "b_mm_4b_like"}

func convertDir(t testing.TB, dir string, dt convert.Target) (string, *convert.Report) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.gmt")
	rep, err := convert.Run(dir, out, convert.Options{DType: dt, ToolVersion: "test"}, nil)
	if err != nil {
		t.Fatalf("Run(%s, %s) = %v", dir, dt, err)
	}
	return out, rep
}

// element decodes element i of a source tensor to float64.
func element(t testutil.RawTensor, i int) float64 {
	switch t.DType {
	case "BF16":
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Data[2*i:])) << 16))
	case "F16":
		return float64(float16.Frombits(binary.LittleEndian.Uint16(t.Data[2*i:])).Float32())
	}
	return float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
}

// transposeBytes transposes a [rows, cols] matrix of es-byte elements.
func transposeBytes(b []byte, rows, cols, es int) []byte {
	out := make([]byte, len(b))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			copy(out[(c*rows+r)*es:], b[(r*cols+c)*es:(r*cols+c+1)*es])
		}
	}
	return out
}

// TestGoldenConvert converts both golden checkpoints and checks every tensor bit for bit
// against the source safetensors (mm.input_proj as the transpose), the metadata, the
// embedded files, and an independent parse of the output bytes against the reader.
func TestGoldenConvert(t *testing.T) {
	for _, name := range goldens {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", name)
			out, rep := convertDir(t, dir, "keep")
			src, err := testutil.ReadRawSafetensors(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := format.Open(out, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.VerifyChecksums(nil); err != nil {
				t.Fatal(err)
			}
			sources := f.Meta.Transforms.TensorSources
			if len(f.Tensors()) != len(src) || len(sources) != len(src) || rep.Tensors != len(src) {
				t.Fatalf("%d tensors written, %d sources recorded, %d in the checkpoint", len(f.Tensors()), len(sources), len(src))
			}
			used := map[string]bool{}
			for _, ft := range f.Tensors() {
				s, ok := src[sources[ft.Name]]
				if !ok || used[sources[ft.Name]] {
					t.Fatalf("%s: source %q missing or used twice", ft.Name, sources[ft.Name])
				}
				used[sources[ft.Name]] = true
				if ft.DType != format.BF16 {
					t.Errorf("%s: dtype %v, want bf16", ft.Name, ft.DType)
				}
				want := s.Data
				if ft.Name == "mm.input_proj" {
					if !equalInts(ft.Shape, []int64{s.Shape[1], s.Shape[0]}) {
						t.Errorf("mm.input_proj shape %v, source %v", ft.Shape, s.Shape)
					}
					want = transposeBytes(s.Data, int(s.Shape[0]), int(s.Shape[1]), 2)
				} else if !equalInts(ft.Shape, s.Shape) {
					t.Errorf("%s: shape %v, source %v", ft.Name, ft.Shape, s.Shape)
				}
				if !bytes.Equal(ft.Data, want) {
					t.Errorf("%s: payload differs from %s", ft.Name, sources[ft.Name])
				}
			}
			wantT := []string(nil)
			if strings.HasPrefix(name, "b_") {
				wantT = []string{"mm.input_proj"}
				if f.Meta.Model.Vision == nil || f.Meta.Model.MM == nil {
					t.Error("multimodal config lost")
				}
			}
			if fmt.Sprint(f.Meta.Transforms.Transposed) != fmt.Sprint(wantT) || f.Meta.Transforms.NormPlusOneFolded {
				t.Errorf("transforms = %+v", f.Meta.Transforms)
			}
			cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			if got, ok, err := f.EmbeddedFile("config.json"); err != nil || !ok || !bytes.Equal(got, cfg) {
				t.Errorf("embedded config.json = %d bytes, %v, %v", len(got), ok, err)
			}
			if f.Meta.Source.Name != name || f.Meta.Tool.Version != "test" {
				t.Errorf("source %+v tool %+v", f.Meta.Source, f.Meta.Tool)
			}
			for _, sf := range f.Meta.Source.Files {
				b, _ := os.ReadFile(filepath.Join(dir, sf.Name))
				if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sf.SHA256 || int64(len(b)) != sf.Bytes {
					t.Errorf("source file %s: recorded %d bytes sha256 %s", sf.Name, sf.Bytes, sf.SHA256)
				}
			}
			checkIndependent(t, out, f)
			checkGolden(t, name, f)
		})
	}
}

// checkIndependent parses the file with testutil.ParseGMTF (from the spec, no format code)
// and compares everything with the reader.
func checkIndependent(t *testing.T, path string, f *format.File) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := testutil.ParseGMTF(b)
	if err != nil {
		t.Fatalf("ParseGMTF: %v", err)
	}
	if int(g.Major) != f.Major || int(g.Minor) != f.Minor || len(g.Tensors) != len(f.Tensors()) {
		t.Fatalf("independent parse: version %d.%d, %d tensors; reader %d.%d, %d", g.Major, g.Minor, len(g.Tensors), f.Major, f.Minor, len(f.Tensors()))
	}
	for i, gt := range g.Tensors {
		ft := f.Tensors()[i]
		shape := make([]int64, len(gt.Shape))
		for k, d := range gt.Shape {
			shape[k] = int64(d)
		}
		if gt.Name != ft.Name || format.DType(gt.DType) != ft.DType || !equalInts(shape, ft.Shape) || int64(gt.Offset) != ft.Offset ||
			int64(gt.Length) != ft.Length || gt.CRC != ft.CRC || gt.Scale != ft.Scale || !bytes.Equal(gt.Payload, ft.Data) {
			t.Errorf("tensor %d: independent %s %d %v @%d+%d, reader %s %v %v @%d+%d", i, gt.Name, gt.DType, gt.Shape, gt.Offset, gt.Length,
				ft.Name, ft.DType, ft.Shape, ft.Offset, ft.Length)
		}
	}
	var meta format.Metadata
	mj, _ := json.Marshal(g.Meta)
	if err := json.Unmarshal(mj, &meta); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(meta)
	jb, _ := json.Marshal(f.Meta)
	if !bytes.Equal(ja, jb) {
		t.Errorf("independent metadata %s\nreader %s", ja, jb)
	}
	names := f.FileNames()
	if len(names) != len(g.Files) {
		t.Errorf("embedded files: reader %v, independent %d", names, len(g.Files))
	}
	for _, n := range names {
		rb, _, _ := f.EmbeddedFile(n)
		if !bytes.Equal(rb, g.Files[n]) {
			t.Errorf("embedded %s differs", n)
		}
	}
}

// checkGolden compares the tensor → dtype, shape, SHA-256 map with testdata/<name>.golden.json
// (rewritten by -update).
func checkGolden(t *testing.T, name string, f *format.File) {
	t.Helper()
	type entry struct {
		DType  string  `json:"dtype"`
		Shape  []int64 `json:"shape"`
		SHA256 string  `json:"sha256"`
	}
	got := map[string]entry{}
	for _, ft := range f.Tensors() {
		h := sha256.Sum256(ft.Data)
		got[ft.Name] = entry{ft.DType.String(), ft.Shape, hex.EncodeToString(h[:])}
	}
	js, _ := json.MarshalIndent(got, "", "  ")
	js = append(js, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(js, want) {
		t.Errorf("tensors differ from %s (run go test -update if intended)", path)
	}
}

func equalInts(a, b []int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestConvertDTypes checks the values of every --dtype against the source, element by element.
func TestConvertDTypes(t *testing.T) {
	dir := filepath.Join("..", "testdata", "b_mm_4b_like")
	src, err := testutil.ReadRawSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []convert.Target{"f32", "f16", "bf16"} {
		t.Run(string(dt), func(t *testing.T) {
			out, _ := convertDir(t, dir, dt)
			f, err := format.Open(out, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, ft := range f.Tensors() {
				s := src[f.Meta.Transforms.TensorSources[ft.Name]]
				if want, _ := format.ParseDType(string(dt)); ft.DType != want {
					t.Fatalf("%s: dtype %v, want %v", ft.Name, ft.DType, want)
				}
				n := int(ft.Length) / ft.DType.ElemSize()
				rows, cols := int(ft.Shape[0]), n/int(ft.Shape[0])
				for i := 0; i < n; i++ {
					si := i
					if ft.Name == "mm.input_proj" {
						si = (i%cols)*rows + i/cols
					}
					v := element(s, si)
					var got, want float64
					switch ft.DType {
					case format.F32:
						got, want = float64(math.Float32frombits(binary.LittleEndian.Uint32(ft.Data[4*i:]))), v
					case format.F16:
						got = float64(float16.Frombits(binary.LittleEndian.Uint16(ft.Data[2*i:])).Float32())
						want = float64(float16.Fromfloat32(float32(v)).Float32())
					case format.BF16:
						got, want = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(ft.Data[2*i:]))<<16)), v
					}
					if got != want {
						t.Fatalf("%s[%d] = %g, want %g (source %g)", ft.Name, i, got, want, v)
					}
				}
			}
		})
	}
}

// TestSharded splits a golden checkpoint into shards with an index: the result is the same
// tensors, and index/shard disagreements are errors naming the tensor.
func TestSharded(t *testing.T) {
	for _, name := range goldens {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", name)
			sharded := filepath.Join(t.TempDir(), "sharded")
			if err := testutil.ShardCheckpoint(sharded, dir, 2); err != nil {
				t.Fatal(err)
			}
			a, _ := convertDir(t, dir, "keep")
			b, rep := convertDir(t, sharded, "keep")
			fa, err := format.Open(a, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer fa.Close()
			fb, err := format.Open(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer fb.Close()
			if len(fa.Tensors()) != len(fb.Tensors()) {
				t.Fatalf("%d tensors sharded, %d not", len(fb.Tensors()), len(fa.Tensors()))
			}
			for i, ta := range fa.Tensors() {
				tb := fb.Tensors()[i]
				if ta.Name != tb.Name || ta.DType != tb.DType || !equalInts(ta.Shape, tb.Shape) || !bytes.Equal(ta.Data, tb.Data) {
					t.Errorf("tensor %s differs between sharded and single-file conversion", ta.Name)
				}
			}
			var files []string
			for _, sf := range rep.Sources {
				files = append(files, sf.Name)
			}
			if !strings.Contains(strings.Join(files, " "), "model-00002-of-00002.safetensors") || !strings.Contains(strings.Join(files, " "), "model.safetensors.index.json") {
				t.Errorf("source files %v", files)
			}
		})
	}

	// Index and shards must agree both ways.
	base := filepath.Join(t.TempDir(), "base")
	if err := testutil.ShardCheckpoint(base, filepath.Join("..", "testdata", "a_text_1b_like"), 2); err != nil {
		t.Fatal(err)
	}
	ixPath := filepath.Join(base, "model.safetensors.index.json")
	ixJSON, _ := os.ReadFile(ixPath)
	var ix struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	json.Unmarshal(ixJSON, &ix)
	tests := []struct {
		name string
		edit func(m map[string]string)
		want string
	}{
		{"not listed", func(m map[string]string) { delete(m, "model.norm.weight") }, `tensor "model.norm.weight": not listed in model.safetensors.index.json`},
		{"wrong shard", func(m map[string]string) { m["model.embed_tokens.weight"] = "model-00002-of-00002.safetensors" },
			`tensor "model.embed_tokens.weight": model.safetensors.index.json places it in model-00002-of-00002.safetensors`},
		{"phantom", func(m map[string]string) { m["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors" },
			`tensor "model.layers.9.mlp.up_proj.weight": listed in shard model-00001-of-00002.safetensors, which does not hold it`},
		{"missing shard", func(m map[string]string) { m["x"] = "model-00003-of-00003.safetensors" }, "model-00003-of-00003.safetensors: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "ck")
			if err := testutil.CopyDir(d, base); err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for k, v := range ix.WeightMap {
				m[k] = v
			}
			tt.edit(m)
			if err := convert.WriteIndex(filepath.Join(d, "model.safetensors.index.json"), 0, m); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "o.gmt")
			_, err := convert.Run(d, out, convert.Options{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tt.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("output file left behind")
			}
		})
	}
}

// rewriteSafetensors rewrites dir/model.safetensors after edit changes its header entries
// (a map of name → {dtype, shape, data_offsets}) and data region.
func rewriteSafetensors(t testing.TB, dir string, edit func(hdr map[string]map[string]any, data []byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, "model.safetensors")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]map[string]any
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	data := edit(hdr, append([]byte(nil), b[8+n:]...))
	js, _ := json.Marshal(hdr)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(append(out, js...), data...)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputs: each broken checkpoint fails with a one-line error naming the file and the
// problem, unwrapping to a sentinel, and leaves no output (not even a temporary file).
func TestBadInputs(t *testing.T) {
	offsets := func(hdr map[string]map[string]any, name string) []any { return hdr[name]["data_offsets"].([]any) }
	tests := []struct {
		name     string
		golden   string
		break_   func(t testing.TB, dir string)
		sentinel error
		want     []string
	}{
		{"truncated safetensors", "a_text_1b_like", func(t testing.TB, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-100)
		}, convert.ErrCheckpoint, []string{"model.safetensors", "beyond the data region", "truncated"}},
		{"header length beyond file", "a_text_1b_like", func(t testing.TB, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			os.WriteFile(p, b, 0o644)
		}, convert.ErrCheckpoint, []string{"model.safetensors", "header length", "beyond the file size"}},
		{"overlapping offsets", "a_text_1b_like", func(t testing.TB, dir string) {
			rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
				o := offsets(hdr, "model.norm.weight")
				o[0], o[1] = o[0].(float64)-2, o[1].(float64)-2
				return data
			})
		}, convert.ErrCheckpoint, []string{"model.safetensors", "overlaps tensor"}},
		{"out-of-range offsets", "a_text_1b_like", func(t testing.TB, dir string) {
			rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
				o := offsets(hdr, "model.norm.weight")
				o[0], o[1] = float64(len(data)), float64(len(data))+128
				return data
			})
		}, convert.ErrCheckpoint, []string{"model.safetensors", `tensor "model.norm.weight"`, "beyond the data region"}},
		{"missing tensor", "b_mm_4b_like", func(t testing.TB, dir string) {
			rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
				// Drop the last tensor of the data region.
				var last string
				var end float64
				for k := range hdr {
					if k != "__metadata__" && offsets(hdr, k)[1].(float64) > end {
						last, end = k, offsets(hdr, k)[1].(float64)
					}
				}
				start := offsets(hdr, last)[0].(float64)
				delete(hdr, last)
				return data[:int(start)]
			})
		}, convert.ErrCheckpoint, []string{"b_mm_4b_like", ": missing (it would become"}},
		{"wrong shape", "a_text_1b_like", func(t testing.TB, dir string) {
			rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
				hdr["model.layers.1.self_attn.q_proj.weight"]["shape"] = []int{32, 128}
				return data
			})
		}, convert.ErrCheckpoint, []string{"model.safetensors", `"model.layers.1.self_attn.q_proj.weight": shape [32, 128], want [64, 64]`}},
		{"config not json", "a_text_1b_like", func(t testing.TB, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{\"model_type\": \"gemma3_text\",\n"), 0o644)
		}, convert.ErrCheckpoint, []string{"config.json", "not JSON"}},
		{"unknown model_type", "a_text_1b_like", func(t testing.TB, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"mistral"}`), 0o644)
		}, convert.ErrUnsupported, []string{"config.json", `model_type "mistral" is not Gemma 3`}},
		{"generation_config not json", "a_text_1b_like", func(t testing.TB, dir string) {
			os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`eos`), 0o644)
		}, convert.ErrCheckpoint, []string{"generation_config.json", "not JSON"}},
		{"pre-quantized config", "a_text_1b_like", func(t testing.TB, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			b = bytes.Replace(b, []byte(`"vocab_size": 512`), []byte(`"vocab_size": 512, "quantization_config": {"quant_method": "awq", "bits": 4}`), 1)
			os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
		}, convert.ErrUnsupported, []string{"config.json", "quantization_config (awq)", "pre-quantized"}},
		{"untied lm_head", "a_text_1b_like", func(t testing.TB, dir string) {
			rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
				e := hdr["model.embed_tokens.weight"]
				o := offsets(hdr, "model.embed_tokens.weight")
				emb := append([]byte(nil), data[int(o[0].(float64)):int(o[1].(float64))]...)
				emb[1000] ^= 0x40
				hdr["lm_head.weight"] = map[string]any{"dtype": e["dtype"], "shape": e["shape"], "data_offsets": []int{len(data), len(data) + len(emb)}}
				return append(data, emb...)
			})
		}, convert.ErrUnsupported, []string{"lm_head.weight", "differs from model.embed_tokens.weight at row 7"}},
		{"no weights", "a_text_1b_like", func(t testing.TB, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, convert.ErrCheckpoint, []string{"no model.safetensors or model.safetensors.index.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.golden)
			if err := testutil.CopyDir(dir, filepath.Join("..", "testdata", tt.golden)); err != nil {
				t.Fatal(err)
			}
			tt.break_(t, dir)
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.gmt")
			_, err := convert.Run(dir, out, convert.Options{}, nil)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("Run = %v, want %v", err, tt.sentinel)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("multi-line error %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Run = %q, want it to contain %q", msg, w)
				}
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("left behind in the output directory: %v", ents)
			}
		})
	}
}

// TestTiedHeadAccepted: an lm_head identical to the embedding is checked and dropped.
func TestTiedHeadAccepted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	if err := testutil.CopyDir(dir, filepath.Join("..", "testdata", "a_text_1b_like")); err != nil {
		t.Fatal(err)
	}
	rewriteSafetensors(t, dir, func(hdr map[string]map[string]any, data []byte) []byte {
		e := hdr["model.embed_tokens.weight"]
		o := e["data_offsets"].([]any)
		emb := data[int(o[0].(float64)):int(o[1].(float64))]
		hdr["lm_head.weight"] = map[string]any{"dtype": e["dtype"], "shape": e["shape"], "data_offsets": []int{len(data), len(data) + len(emb)}}
		return append(data, emb...)
	})
	_, rep := convertDir(t, dir, "keep")
	if rep.Tensors != 106 || !strings.Contains(strings.Join(rep.Warnings, "|"), "lm_head.weight is a copy of the tied embedding") {
		t.Errorf("report %+v", rep)
	}
}

// TestOpenCheckpointReadRows reads the transposed projector through the public API.
func TestOpenCheckpointReadRows(t *testing.T) {
	ck, err := convert.OpenCheckpoint(filepath.Join("..", "testdata", "b_mm_4b_like"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	src, _ := testutil.ReadRawSafetensors(filepath.Join("..", "testdata", "b_mm_4b_like", "model.safetensors"))
	for _, name := range []string{"mm.input_proj", "text.blk.2.ffn_down", "vision.patch_embd"} {
		e, ok := ck.Plan.Entry(name)
		if !ok {
			t.Fatalf("no entry %s", name)
		}
		s := src[e.Source]
		rows, cols := e.Rows(), e.Cols()
		buf := make([]float32, 3*cols)
		for r0 := int64(0); r0 < rows; r0 += 3 {
			n := min(3, rows-r0)
			if err := ck.ReadRows(e, r0, n, buf); err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < n*cols; i++ {
				r, c := r0+i/cols, i%cols
				si := r*cols + c
				if e.Transpose {
					si = c*rows + r
				}
				if want := element(s, int(si)); float64(buf[i]) != want {
					t.Fatalf("ReadRows(%s) row %d col %d = %g, want %g", name, r, c, buf[i], want)
				}
			}
		}
	}
	e, _ := ck.Plan.Entry("text.embed")
	if err := ck.ReadRows(e, e.Rows()-1, 2, make([]float32, 2*e.Cols())); err == nil {
		t.Error("ReadRows past the end succeeded")
	}
	if got := fmt.Sprint(ck.Aux); got != "[config.json preprocessor_config.json]" {
		t.Errorf("Aux = %s", got)
	}
	sort.Strings(ck.Weights)
}

// TestSynthConvert writes a 2-layer random 1B checkpoint with synth and converts it.
func TestSynthConvert(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and converts a 700 MB checkpoint")
	}
	dir := filepath.Join(t.TempDir(), "s1b")
	res, err := convert.Synth(dir, convert.SynthOptions{Size: "1b", Layers: 2, Seed: 7, NoTokenizer: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tensors != 2+13*2 || res.Config.Text.VocabSize != 262144 {
		t.Fatalf("synth = %+v", res)
	}
	out, rep := convertDir(t, dir, "keep")
	if rep.Tensors != res.Tensors || rep.SourceBytes != res.Bytes {
		t.Errorf("convert report %+v, synth %+v", rep, res)
	}
	f, err := format.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Meta.Model.Text.HiddenSize != 1152 || f.Meta.Model.Text.NumLayers != 2 {
		t.Errorf("config %+v", f.Meta.Model.Text)
	}
	q, _ := f.Tensor("text.blk.1.attn_q")
	var sum, sum2 float64
	n := len(q.Data) / 2
	for i := 0; i < n; i++ {
		v := float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(q.Data[2*i:])) << 16))
		sum, sum2 = sum+v, sum2+v*v
	}
	if mean, sd := sum/float64(n), math.Sqrt(sum2/float64(n)); math.Abs(mean) > 1e-3 || math.Abs(sd-0.02) > 1e-3 {
		t.Errorf("attn_q mean %g sd %g, want N(0, 0.02)", mean, sd)
	}
}
