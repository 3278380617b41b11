package quantize

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

type blockLine struct {
	Type     string   `json:"type"`
	Category string   `json:"category"`
	Input    []string `json:"input"`
	BlockHex string   `json:"block_hex"`
	Note     string   `json:"note"`
}

func readBlocks(t testing.TB) []blockLine {
	t.Helper()
	f, err := os.Open("../testdata/quant/blocks.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []blockLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var b blockLine
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (b blockLine) values(t testing.TB) *[32]float32 {
	t.Helper()
	var x [32]float32
	if len(b.Input) != 32 {
		t.Fatalf("%d inputs", len(b.Input))
	}
	for i, h := range b.Input {
		u, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		x[i] = math.Float32frombits(uint32(u))
	}
	return &x
}

// planarBlock moves the codes and scale of a [1, 32] payload back into llama.cpp block order.
func planarBlock(t testing.TB, ty format.DType, p []byte) []byte {
	t.Helper()
	l, err := format.LayoutOf(ty, []int64{1, 32})
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, p[l.ScalesOff:l.ScalesOff+2]...), p[l.CodesOff:l.CodesOff+l.CodesLen]...)
}

// TestLlamaBlocks encodes every input of testdata/quant/blocks.jsonl and compares the bytes
// with the block llama.cpp wrote, through both the block API and the planar Encode.
func TestLlamaBlocks(t *testing.T) {
	blocks := readBlocks(t)
	if len(blocks) != 261 {
		t.Fatalf("read %d blocks, want 261", len(blocks))
	}
	var rows = map[format.DType][]float32{}
	var want = map[format.DType][][]byte{}
	for i, b := range blocks {
		x := b.values(t)
		wantBytes, err := hex.DecodeString(b.BlockHex)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		var ty format.DType
		switch b.Type {
		case "q4_0":
			var blk [18]byte
			err, got, ty = EncodeQ4_0Block(&blk, x), blk[:], format.Q4_0
		case "q8_0":
			var blk [34]byte
			err, got, ty = EncodeQ8_0Block(&blk, x), blk[:], format.Q8_0
		default:
			t.Fatalf("line %d: type %q", i+1, b.Type)
		}
		if err != nil {
			t.Errorf("line %d (%s %s): %v", i+1, b.Type, b.Category, err)
			continue
		}
		if !bytes.Equal(got, wantBytes) {
			t.Errorf("line %d (%s %s, %s):\n got %x\nwant %x", i+1, b.Type, b.Category, b.Note, got, wantBytes)
		}
		p, ts, err := Encode(ty, []int64{1, 32}, x[:], Options{})
		if err != nil || ts != 1 {
			t.Fatalf("line %d: Encode: %v, scale %v", i+1, err, ts)
		}
		if pb := planarBlock(t, ty, p); !bytes.Equal(pb, wantBytes) {
			t.Errorf("line %d (%s %s): planar Encode\n got %x\nwant %x", i+1, b.Type, b.Category, pb, wantBytes)
		}
		rows[ty] = append(rows[ty], x[:]...)
		want[ty] = append(want[ty], wantBytes)
	}
	// All blocks of a type as one tensor of 3 blocks per row (whole rows only), encoded in
	// parallel: block k of the file is block k%3 of row k/3.
	for ty, x := range rows {
		nb := len(want[ty]) / 3 * 3
		shape := []int64{int64(nb / 3), 96}
		p, _, err := Encode(ty, shape, x[:nb*32], Options{Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := format.LayoutOf(ty, shape)
		per := int(l.RowStride) / 3
		for k := range nb {
			got := append(append([]byte{}, p[l.ScalesOff+int64(2*k):l.ScalesOff+int64(2*k+2)]...), p[k*per:(k+1)*per]...)
			if !bytes.Equal(got, want[ty][k]) {
				t.Errorf("%v tensor block %d:\n got %x\nwant %x", ty, k, got, want[ty][k])
			}
		}
	}
}

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestSpecQ8_0Example(t *testing.T) {
	x := [32]float32{0.12, -0.03, 0, 0.25, -0.5, 0.031, 0.062, -0.0625, 0.44, 0.3, -0.21, 0.18, 0.09, -0.11, 0.005, -0.005,
		0.4375, 0.2, -0.35, 0.01, -0.47, 0.33, 0, 0.125, -0.26, 0.15, 0.07, -0.02, 0.48, -0.38, 0.29, -0.1}
	want := hexBytes("08 1c 1e f8 00 40 81 08 10 f0 70 4c cb 2e 17 e4 01 ff 6f 33 a7 03 89 54 00 20 be 26 12 fb 7a 9f 4a e7")
	var got [34]byte
	if err := EncodeQ8_0Block(&got, &x); err != nil || !bytes.Equal(got[:], want) {
		t.Errorf("EncodeQ8_0Block(spec example) = %x, %v\nwant %x", got, err, want)
	}
	// Ties go away from zero: amax = 127·2⁻⁹ gives d = 2⁻⁹, id = 512.
	u := float32(math.Ldexp(1, -9))
	var y [32]float32
	y[0], y[1], y[2], y[3], y[4] = 127*u, 2.5*u, -2.5*u, 0.5*u, -0.5*u
	if err := EncodeQ8_0Block(&got, &y); err != nil {
		t.Fatal(err)
	}
	if q := []int8{int8(got[3]), int8(got[4]), int8(got[5]), int8(got[6])}; q[0] != 3 || q[1] != -3 || q[2] != 1 || q[3] != -1 {
		t.Errorf("Q8_0 ties: codes %v, want [3 -3 1 -1]", q)
	}
}

func TestSpecQ4_0Example(t *testing.T) {
	x := [32]float32{0.05, -0.05, 0.15, -0.15, 0.35, 0.8, -0.25, 0.1, 0, -0.0125, 0.6, -0.45, 0.2, 0.7, -0.6, 0.033,
		-0.3, 0.4, 0.025, -0.775, -0.8, 0.55, -0.05, 0.12, 0.5, -0.1, 0.01, -0.7, 0.26, 0, -0.35, 0.44}
	want := hexBytes("66 ae b8 49 87 fa f5 30 9b 77 38 98 82 fd 56 81 ce 48")
	var got [18]byte
	if err := EncodeQ4_0Block(&got, &x); err != nil || !bytes.Equal(got[:], want) {
		t.Errorf("EncodeQ4_0Block(spec example) = %x, %v\nwant %x", got, err, want)
	}
	var zero [32]float32
	zero[3] = float32(math.Copysign(0, -1))
	if err := EncodeQ4_0Block(&got, &zero); err != nil || !bytes.Equal(got[:], hexBytes("0080"+strings.Repeat("88", 16))) {
		t.Errorf("EncodeQ4_0Block(zeros) = %x, %v", got, err)
	}
}

func TestBlockErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		v      float32
		q4, q8 error
	}{
		{"NaN", float32(math.NaN()), ErrNonFinite, ErrNonFinite},
		{"+Inf", float32(math.Inf(1)), ErrNonFinite, ErrNonFinite},
		{"-Inf", float32(math.Inf(-1)), ErrNonFinite, ErrNonFinite},
		{"q4 limit", 524159.97, nil, nil},
		{"q4 overflow", 524160, ErrScaleOverflow, nil},
		{"q4 overflow negative", -524160, ErrScaleOverflow, nil},
		{"1e6", 1e6, ErrScaleOverflow, nil},
		{"q8 limit", 8321039, ErrScaleOverflow, nil},
		{"q8 overflow", 8321040, ErrScaleOverflow, ErrScaleOverflow},
		{"1e7", -1e7, ErrScaleOverflow, ErrScaleOverflow},
	} {
		t.Run(c.name, func(t *testing.T) {
			var x [32]float32
			x[0], x[7] = 1, c.v
			var b4 [18]byte
			var b8 [34]byte
			if err := EncodeQ4_0Block(&b4, &x); !errors.Is(err, c.q4) || (c.q4 == nil) != (err == nil) {
				t.Errorf("EncodeQ4_0Block(x[7] = %v) = %v, want %v", c.v, err, c.q4)
			}
			if err := EncodeQ8_0Block(&b8, &x); !errors.Is(err, c.q8) || (c.q8 == nil) != (err == nil) {
				t.Errorf("EncodeQ8_0Block(x[7] = %v) = %v, want %v", c.v, err, c.q8)
			}
			if c.q4 == nil && binary.LittleEndian.Uint16(b4[:]) != 0xFBFF && c.v == 524159.97 {
				t.Errorf("EncodeQ4_0Block(524159.97) d = %#04x, want 0xfbff (-65504)", binary.LittleEndian.Uint16(b4[:]))
			}
		})
	}
}
