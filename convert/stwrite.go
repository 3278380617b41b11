package convert

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/gemmatool/gemmatool/format"
)

// stElemSize is the byte size of the safetensors dtypes the writer handles.
var stElemSize = map[string]int64{"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I32": 4}

// STBytes returns the payload bytes of a safetensors tensor of dtype and shape.
func STBytes(dtype string, shape []int64) int64 {
	n := stElemSize[dtype]
	for _, d := range shape {
		n *= d
	}
	return n
}

// STensor is one tensor for [WriteSafetensors]: Fill writes exactly STBytes(DType, Shape)
// bytes.
type STensor struct {
	Name  string
	DType string
	Shape []int64
	Fill  func(io.Writer) error
}

// WriteSafetensors streams a safetensors file: the JSON header (with __metadata__), padded
// with spaces to a multiple of 8, then every tensor's bytes in order.
func WriteSafetensors(path string, meta map[string]string, ts []STensor) error {
	return writeSafetensors(context.Background(), path, meta, ts)
}

func writeSafetensors(ctx context.Context, path string, meta map[string]string, ts []STensor) error {
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range ts {
		if _, ok := stElemSize[t.DType]; !ok {
			return fmt.Errorf("testutil: tensor %s: dtype %q not handled", t.Name, t.DType)
		}
		n := STBytes(t.DType, t.Shape)
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		header[t.Name] = map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	f, err := format.CreateOutput(ctx, path)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<20)
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hj)))
	bw.Write(lenb[:])
	bw.Write(hj)
	for _, t := range ts {
		cw := &countWriter{w: bw}
		if err := t.Fill(cw); err != nil {
			return fmt.Errorf("testutil: tensor %s: %w", t.Name, err)
		}
		if want := STBytes(t.DType, t.Shape); cw.n != want {
			return fmt.Errorf("testutil: tensor %s: wrote %d bytes, want %d", t.Name, cw.n, want)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

// writeFile writes data to path through a [format.Output] (whole or not at all).
func writeFile(ctx context.Context, path string, data []byte) error {
	f, err := format.CreateOutput(ctx, path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteIndex writes model.safetensors.index.json for sharded checkpoints.
func WriteIndex(path string, totalBytes int64, weightMap map[string]string) error {
	b, err := indexJSON(totalBytes, weightMap)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func indexJSON(totalBytes int64, weightMap map[string]string) ([]byte, error) {
	b, err := json.MarshalIndent(map[string]any{
		"metadata":   map[string]any{"total_size": totalBytes},
		"weight_map": weightMap,
	}, "", "  ")
	return append(b, '\n'), err
}
