package format_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/gemmatool/gemmatool/format"
)

// Write a file with one tensor, then open it and read the tensor in place from the mapping.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gmt")

	w, err := format.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	vals := []float32{1, 2, 3, 4, 5, 6}
	err = w.WriteTensor("text.output_norm", format.F32, []int64{2, 3}, 1, func(out io.Writer) error {
		_, err := out.Write(format.Float32Bytes(vals))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	w.SetMetadata(&format.Metadata{Model: format.ModelConfig{Arch: "gemma3"}})
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	f, err := format.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, _ := f.Tensor("text.output_norm")
	x, err := format.Float32s(t.Data) // no copy: a view of the mapping
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.DType, t.Shape, t.Offset%format.Alignment, x)
	// Output: f32 [2 3] 0 [1 2 3 4 5 6]
}
