package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format/gguf"
)

// ggufReport is what inspect prints for a GGUF file (and its --json form).
type ggufReport struct {
	File       string          `json:"file"`
	Bytes      int64           `json:"bytes"`
	Format     string          `json:"format"` // "gguf"
	Version    uint32          `json:"version"`
	Alignment  uint64          `json:"alignment"`
	DataOffset int64           `json:"data_offset"`
	Keys       []ggufKey       `json:"keys"`
	Tensors    []ggufTensor    `json:"tensors"`
	Types      []ggufTypeTotal `json:"types"`
}

type ggufKey struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Len   int    `json:"len,omitempty"` // arrays: the element count
	Value any    `json:"value"`         // arrays: the first elements only
}

type ggufTensor struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Ne     []uint64 `json:"ne"`
	Bytes  int64    `json:"bytes"`
	Offset uint64   `json:"offset"`
}

type ggufTypeTotal struct {
	Type    string `json:"type"`
	Tensors int    `json:"tensors"`
	Bytes   int64  `json:"bytes"`
}

// arrayPreview is how many elements of an array key inspect shows.
const arrayPreview = 8

func inspectGGUF(c *cli.Context, path string) error {
	f, err := gguf.Open(path, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	rep := ggufReport{File: path, Bytes: f.Size, Format: "gguf", Version: f.Version, Alignment: f.Alignment, DataOffset: f.DataOffset}
	for _, kv := range f.KV {
		k := ggufKey{Key: kv.Key, Type: kv.Type.String(), Value: kv.Value}
		if a, ok := kv.Value.(gguf.Array); ok {
			k.Type = "array[" + a.Elem.String() + "]"
			k.Len = a.Len()
			k.Value = preview(a)
		}
		rep.Keys = append(rep.Keys, k)
	}
	totals := map[string]*ggufTypeTotal{}
	for _, t := range f.Tensors {
		rep.Tensors = append(rep.Tensors, ggufTensor{t.Name, t.Type.String(), t.Ne, t.Size, t.Offset})
		tt := totals[t.Type.String()]
		if tt == nil {
			tt = &ggufTypeTotal{Type: t.Type.String()}
			totals[tt.Type] = tt
		}
		tt.Tensors++
		tt.Bytes += t.Size
	}
	for _, tt := range totals {
		rep.Types = append(rep.Types, *tt)
	}
	sort.Slice(rep.Types, func(i, j int) bool { return rep.Types[i].Bytes > rep.Types[j].Bytes })
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "file        %s (%s, GGUF v%d, alignment %d, data at %#x)\n", path, humanBytes(rep.Bytes), rep.Version, rep.Alignment, rep.DataOffset)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "\nKEY\tTYPE\tVALUE\n")
	for _, k := range rep.Keys {
		v := fmt.Sprint(k.Value)
		if s, ok := k.Value.(string); ok {
			v = fmt.Sprintf("%q", s)
		}
		if k.Len > 0 {
			v = fmt.Sprintf("%d: %s", k.Len, v)
		}
		if r := []rune(v); len(r) > 100 {
			v = string(r[:97]) + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.Type, strings.ReplaceAll(v, "\n", `\n`))
	}
	fmt.Fprintf(tw, "\nTENSOR\tTYPE\tNE\tBYTES\n")
	for _, t := range rep.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", t.Name, t.Type, t.Ne, humanBytes(t.Bytes))
	}
	fmt.Fprintf(tw, "\nTYPE\tTENSORS\tBYTES\t\n")
	for _, tt := range rep.Types {
		fmt.Fprintf(tw, "%s\t%d\t%s\t\n", tt.Type, tt.Tensors, humanBytes(tt.Bytes))
	}
	return tw.Flush()
}

// preview returns the first elements of an array value.
func preview(a gguf.Array) any {
	switch v := a.Values.(type) {
	case []string:
		return v[:min(len(v), arrayPreview)]
	case []float32:
		return v[:min(len(v), arrayPreview)]
	case []int32:
		return v[:min(len(v), arrayPreview)]
	case []bool:
		return v[:min(len(v), arrayPreview)]
	case []uint32:
		return v[:min(len(v), arrayPreview)]
	}
	return fmt.Sprintf("(%d elements)", a.Len())
}
