package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
)

// Every command that writes a file creates it through format.CreateOutput (directly, or
// through format.Writer): a temporary file next to the destination, renamed into place when
// complete, removed on failure or interruption, created 0666 minus the umask. checkOutput
// checks the destination before any work is done.

// exitInterrupted is the exit status after SIGINT or SIGTERM (128 + SIGINT, as shells report
// a process ended by Ctrl-C).
const exitInterrupted = 130

// errNothingWritten is returned by a command that writes a file and was stopped by SIGINT or
// SIGTERM after removing its temporary file; it exits 130 like every interrupted verb.
var errNothingWritten = fmt.Errorf("%w; nothing written", errInterrupted)

// checkOutput refuses an output path that cannot receive the command's file (see
// format.CheckOutput: a missing directory, something other than a regular file, or one of
// the command's inputs), and notes temporary files that an earlier gemmatool killed
// while writing left in the same directory.
func checkOutput(c *cli.Context, out string, inputs ...string) error {
	if _, err := format.CheckOutput(out, inputs...); err != nil {
		return err
	}
	noteStaleOutputs(c, filepath.Dir(out))
	return nil
}

// noteStaleOutputs prints one note per leftover temporary file in dir.
func noteStaleOutputs(c *cli.Context, dir string) {
	for _, p := range format.StaleOutputs(dir) {
		size := ""
		if st, err := os.Stat(p); err == nil {
			size = " (" + humanBytes(st.Size()) + ")"
		}
		fmt.Fprintf(c.App.ErrWriter, "gemmatool: note: %s%s is a partial output of a gemmatool process that was killed; it may be deleted\n", p, size)
	}
}

// interrupted maps an error caused by the cancellation of the command's context (SIGINT or
// SIGTERM) to errNothingWritten; other errors pass unchanged.
func interrupted(c *cli.Context, err error) error {
	if err != nil && c.Context.Err() != nil && errors.Is(err, context.Canceled) {
		return errNothingWritten
	}
	return err
}
