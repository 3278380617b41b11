// Command gemmatool converts, quantizes, verifies and runs Gemma 3 checkpoints.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainExit())
}

// mainExit runs the command line of the process and returns its exit status.
func mainExit() int {
	// SIGINT and SIGTERM cancel the context of the running verb, which stops at its next
	// check, prints what it has (or removes what it was writing) and exits 130. A second
	// signal ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := runContext(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	return code
}
