package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	var usage func([]*cli.Command)
	usage = func(cs []*cli.Command) {
		for _, c := range cs {
			if c.OnUsageError == nil {
				c.OnUsageError = usageExit
			}
			usage(c.Subcommands)
		}
	}
	usage(cmds)
	return &cli.App{
		Name:      "gemmatool",
		Usage:     "convert, quantize, verify and run Gemma 3 checkpoints on the CPU",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  cmds,
		// An unknown command is a usage error (urfave/cli's default help topic exits 3).
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("unknown command %q (see gemmatool --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		// Errors are printed once by run, not by urfave/cli.
		ExitErrHandler:         func(*cli.Context, error) {},
		UseShortOptionHandling: true,
		EnableBashCompletion:   true,
	}
}

// run executes the app and maps errors to an exit status: 0 success, 1 failure, 2 usage,
// 130 interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a root context that SIGINT and SIGTERM cancel; commands get it as
// cli.Context.Context.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return 0
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// A command that did not say more about its interruption.
		fmt.Fprintln(stderr, "gemmatool: interrupted")
		return exitInterrupted
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

// usageExit turns urfave/cli's flag parsing errors into usage errors (exit status 2).
func usageExit(c *cli.Context, err error, _ bool) error {
	return cli.Exit(fmt.Sprintf("%s: %v (see gemmatool %s --help)", c.Command.Name, err, c.Command.FullName()), 2)
}

// usageError reports a command-line mistake (exit status 2).
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
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
