package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// commands is filled by the init functions of the command files (one file per command).
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

// newApp builds the CLI writing to stdout and stderr. Tests call newApp(...).Run(args).
func newApp(stdout, stderr io.Writer) *cli.App {
	cmds := append([]*cli.Command(nil), commands...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:      "gemmatool",
		Usage:     "convert, quantize, verify and run Gemma 3 checkpoints on the CPU",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  cmds,
		// Errors are printed once by run, not by urfave/cli.
		ExitErrHandler:         func(*cli.Context, error) {},
		UseShortOptionHandling: true,
		EnableBashCompletion:   true,
	}
}

// run executes the app and maps errors to an exit status: 0 success, 1 failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := strings.TrimSpace(err.Error()); msg != "" {
			fmt.Fprintf(stderr, "gemmatool: %s\n", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "gemmatool: %v\n", err)
	return 1
}

// usageError reports a command-line mistake (exit status 2).
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}
