package convert

import (
	"unicode/utf8"

	"github.com/gemmatool/gemmatool/runtime/imageproc"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// checkAux validates the checkpoint's non-weight files before any output is written, so
// that a converted file never embeds a file its readers would refuse later: tokenizer.json
// (with tokenizer_config.json) must load as a tokenizer, preprocessor_config.json must be
// a supported image-processor configuration, the other JSON files must be JSON objects and
// chat_template.jinja UTF-8 text. Errors name the file. The loaded tokenizer's tables are
// kept for the output file.
func (c *Checkpoint) checkAux(files map[string][]byte) error {
	for _, name := range c.Aux {
		b := files[name]
		path := c.Path(name)
		switch name {
		case ConfigFile, GenConfigFile:
			// Parsed when the checkpoint was opened.
		case TokenizerFile:
			tok, err := tokenizer.Load(b, files["tokenizer_config.json"])
			if err != nil {
				return errAt(path, "", -1, ErrCheckpoint, "%v", err)
			}
			c.tables = tok.Tables()
		case "preprocessor_config.json":
			if _, err := imageproc.ParseConfig(b); err != nil {
				return errAt(path, "", -1, ErrCheckpoint, "%v", err)
			}
		case "chat_template.jinja":
			if !utf8.Valid(b) {
				return errAt(path, "", -1, ErrCheckpoint, "not UTF-8 text")
			}
		default:
			var v any
			if err := decodeNumbers(b, &v); err != nil {
				return errAt(path, "", -1, ErrCheckpoint, "not JSON: %v", err)
			}
			if _, ok := v.(map[string]any); !ok {
				return errAt(path, "", -1, ErrCheckpoint, "not a JSON object")
			}
		}
	}
	return nil
}
