package main

import (
	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// execFromFlags returns the activation mode and thread count a command's products run with:
// --threads (default: all cores) and, for commands that have it, --act (default exact).
// Commands whose numbers must be the model's own (verify, logits) have no --act and always
// compute exactly.
func execFromFlags(c *cli.Context) (kernel.Exec, error) {
	ex := kernel.Exec{Threads: c.Int("threads")}
	switch s := c.String("act"); s {
	case "exact", "":
	case "int8":
		ex.Mode = kernel.ModeInt8
	default:
		return ex, usageError("--act %q: want exact or int8", s)
	}
	return ex, nil
}
