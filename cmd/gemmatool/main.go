// Command gemmatool converts, quantizes, verifies and runs Gemma 3 checkpoints.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
