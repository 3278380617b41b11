package convert

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/gemmatool/gemmatool/format"
)

// Name returns the checkpoint's name: `_name_or_path` of its config when set, else the
// directory's base name.
func (c *Checkpoint) Name() string {
	if c.Config.NameOrPath != "" {
		return c.Config.NameOrPath
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		abs = c.Dir
	}
	return filepath.Base(abs)
}

// Files returns the checkpoint's non-weight files that a gemmatool file embeds, by name.
func (c *Checkpoint) Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range c.Aux {
		data, err := readCapped(c.Path(name), maxAuxBytes)
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	return out, nil
}

// Metadata hashes every source file (streaming reads, not the mapping) and returns the
// metadata a file made from this checkpoint records: configuration, source, tool, and the
// transforms of the plan. Quantization is left for the caller.
func (c *Checkpoint) Metadata(toolVersion string) (*format.Metadata, error) {
	names := append(append([]string(nil), c.Aux...), c.Weights...)
	sort.Strings(names)
	var files []format.SourceFile
	for _, n := range names {
		sf, err := hashFile(c.Dir, n, nil)
		if err != nil {
			return nil, fmt.Errorf("convert: hash %s: %w", n, err)
		}
		files = append(files, sf)
	}
	if toolVersion == "" {
		toolVersion = "dev"
	}
	meta := &format.Metadata{
		Model:      c.Plan.Config,
		Source:     format.Source{Name: c.Name(), Files: files},
		Tool:       format.Tool{Name: "gemmatool", Version: toolVersion},
		Transforms: format.Transforms{TensorSources: map[string]string{}},
	}
	for _, e := range c.Plan.Entries {
		meta.Transforms.TensorSources[e.Name] = e.Source
		if e.Transpose {
			meta.Transforms.Transposed = append(meta.Transforms.Transposed, e.Name)
		}
	}
	return meta, nil
}
