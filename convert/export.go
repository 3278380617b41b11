package convert

import (
	"path/filepath"

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

// Files returns the checkpoint's non-weight files that a gemmatool file embeds, by name,
// after validating them (see checkAux): a tokenizer that would not load, or a JSON file that
// is not JSON, is an error naming the file rather than something embedded for later.
func (c *Checkpoint) Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range c.Aux {
		data, err := readCapped(c.Path(name), maxAuxBytes)
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	if err := c.checkAux(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Metadata hashes every source file (streaming reads, not the mapping) and returns the
// metadata a file made from this checkpoint records: configuration, source, tool, and the
// transforms of the plan. Quantization is left for the caller. It first runs
// [Checkpoint.CheckTied], so that a consumer of the plan other than [Run] never drops an
// untied output head silently.
func (c *Checkpoint) Metadata(toolVersion string) (*format.Metadata, error) {
	if err := c.CheckTied(); err != nil {
		return nil, err
	}
	var files []format.SourceFile
	for _, n := range c.sourceNames() {
		sf, err := hashFile(c.Dir, n, nil)
		if err != nil {
			return nil, err
		}
		files = append(files, sf)
	}
	return c.metadata(files, toolVersion), nil
}
