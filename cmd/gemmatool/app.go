package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
	applyConventions(cmds)
	return &cli.App{
		Name:      "gemmatool",
		Usage:     "convert, quantize, verify and run Gemma 3 checkpoints on the CPU",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  cmds,
		Action:    appAction,
		// Usage errors are printed by run; help only on --help.
		HideHelpCommand: true,
		// Errors are printed once by run, not by urfave/cli.
		ExitErrHandler:         func(*cli.Context, error) {},
		UseShortOptionHandling: true,
		EnableBashCompletion:   true,
	}
}

// run executes the app and maps errors to an exit status: 0 success, 1 failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, os.Stdin, stdout, stderr)
}

// runContext is run with a context (cancelled by SIGINT or SIGTERM in main) and standard input.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	app.Reader = stdin
	args = flagsFirst(app, args)
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "gemmatool: %s\n", errorLine(app, args, err))
	return exitCode(err)
}

// exitCode is 2 for usage errors, the code of an interruption (130), else 1.
func exitCode(err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

// errorLine is the message of err as printed after "gemmatool: ". A usage error names the verb
// and ends with a pointer to its --help.
func errorLine(app *cli.App, args []string, err error) string {
	msg := strings.TrimSpace(err.Error())
	if exitCode(err) != 2 {
		return msg
	}
	verb := strings.Join(verbPath(app, args), " ")
	if verb != "" && !strings.HasPrefix(msg, verb+":") {
		msg = verb + ": " + msg
	}
	if !strings.Contains(msg, "--help") {
		msg += " (see " + strings.TrimSpace("gemmatool "+verb) + " --help)"
	}
	return msg
}

// verbPath returns the names of the (sub)commands that args invoke.
func verbPath(app *cli.App, args []string) []string {
	var path []string
	cmds := app.Commands
	for _, a := range args[min(1, len(args)):] {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		path = append(path, next.Name)
		cmds = next.Subcommands
	}
	return path
}

// flagsFirst moves the flags of the invoked (sub)command before its positional arguments, so
// that "gemmatool convert DIR -o FILE" works: urfave/cli v2, like the flag package, stops
// parsing flags at the first positional argument. Arguments after "--" stay positional.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	cmds := app.Commands
	i := 1
	var cmd *cli.Command
	for i < len(args) {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd = next
		out = append(out, args[i])
		cmds = cmd.Subcommands
		i++
	}
	if cmd == nil {
		return args
	}
	var flags, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasVal {
			continue
		}
		for _, f := range cmd.Flags {
			if !slices.Contains(f.Names(), name) {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); !isBool && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return append(append(out, flags...), pos...)
}
