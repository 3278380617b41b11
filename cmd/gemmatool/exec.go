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

// visionActFlag is --vision-act of the commands that run the vision tower.
func visionActFlag() cli.Flag {
	return &cli.StringFlag{Name: "vision-act", Usage: "activation precision of the vision tower's matrix products and attention: exact (f32), or bf16 (activations and weights rounded to bfloat16, AVX-512 BF16 dot products, f32 accumulation; exact on CPUs without AVX-512 BF16; error measured in the README); default: as the text model's"}
}

// visionExec returns ex with the mode --vision-act asks for (unchanged when it is not set).
func visionExec(c *cli.Context, ex kernel.Exec) (kernel.Exec, error) {
	switch s := c.String("vision-act"); s {
	case "":
	case "exact":
		ex.Mode = kernel.ModeExact
	case "bf16":
		ex.Mode = kernel.ModeBF16
	default:
		return ex, usageError("--vision-act %q: want exact or bf16", s)
	}
	return ex, nil
}
