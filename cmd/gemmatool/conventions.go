package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// The command-line conventions every verb follows:
//   - usage errors (a missing or unknown flag, a flag out of range, an unknown verb) exit with
//     status 2 and read "gemmatool VERB: … (see gemmatool VERB --help)";
//   - runtime failures exit with status 1 and read "gemmatool: …";
//   - warnings read "gemmatool: warning: …";
//   - a misspelled verb or flag gets the nearest one as a suggestion.
// applyConventions installs them on the commands of an app.

// applyConventions walks cmds (and their subcommands) and installs the usage-error handler,
// the required-flag check and the help text of the flag defaults.
func applyConventions(cmds []*cli.Command) {
	conventionsMu.Lock()
	defer conventionsMu.Unlock()
	applyConventionsLocked(cmds)
}

// conventionsApplied records the commands already set up: the commands are package-level
// values and newApp runs more than once per process (tests, demo).
var (
	conventionsMu      sync.Mutex
	conventionsApplied = map[*cli.Command]bool{}
)

func applyConventionsLocked(cmds []*cli.Command) {
	for _, c := range cmds {
		if conventionsApplied[c] {
			continue
		}
		conventionsApplied[c] = true
		if c.OnUsageError == nil {
			c.OnUsageError = usageExit
		}
		required := requiredFlags(c.Flags)
		for _, f := range c.Flags {
			moveDefaultText(f)
		}
		before := c.Before
		c.Before = func(cc *cli.Context) error {
			for _, name := range required {
				if !cc.IsSet(name) {
					return usageError("--%s is required", name)
				}
			}
			if err := checkNumericFlags(cc); err != nil {
				return err
			}
			if before != nil {
				return before(cc)
			}
			return nil
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = func(cc *cli.Context) error {
				var names []string
				for _, s := range cc.Command.Subcommands {
					if s.Name != "help" {
						names = append(names, s.Name)
					}
				}
				if cc.NArg() == 0 {
					return usageError("give one of %s", strings.Join(names, ", "))
				}
				return usageError("unknown command %q%s", cc.Args().First(), suggest(cc.Args().First(), names, ""))
			}
		}
		applyConventionsLocked(c.Subcommands)
	}
}

// appAction handles "gemmatool" alone and an unknown verb.
func appAction(c *cli.Context) error {
	var names []string
	for _, cmd := range c.App.Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Names()...)
		}
	}
	if c.NArg() == 0 {
		cli.HelpPrinter(c.App.ErrWriter, cli.AppHelpTemplate, c.App)
		return usageError("give a verb")
	}
	v := c.Args().First()
	if v == "help" {
		// "gemmatool help [VERB]", as git and go take it.
		if c.NArg() == 1 {
			return cli.ShowAppHelp(c)
		}
		if cmd := c.App.Command(c.Args().Get(1)); cmd != nil {
			return cli.ShowCommandHelp(c, cmd.Name)
		}
		v = c.Args().Get(1)
	}
	return usageError("unknown verb %q%s", v, suggest(v, names, ""))
}

// requiredFlags clears the Required field of the flags (urfave/cli would print the whole help
// and exit 1) and returns their names, checked by the command's Before hook instead.
func requiredFlags(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		v := reflect.ValueOf(f)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			continue
		}
		r := v.Elem().FieldByName("Required")
		if r.IsValid() && r.Kind() == reflect.Bool && r.Bool() {
			r.SetBool(false)
			names = append(names, f.Names()[0])
		}
	}
	return names
}

var defaultInUsage = regexp.MustCompile(`\s*\(default: ([^()]*(\([^()]*\))?[^()]*)\)$`)

// moveDefaultText turns a "(default: …)" written at the end of a flag's usage into the flag's
// DefaultText, so that the help shows the default once, and hides the "(default: false)" of
// boolean flags.
func moveDefaultText(f cli.Flag) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	s := v.Elem()
	if b, ok := f.(*cli.BoolFlag); ok {
		b.DisableDefaultText = true
	}
	u, dt := s.FieldByName("Usage"), s.FieldByName("DefaultText")
	if !u.IsValid() || !dt.IsValid() || dt.String() != "" {
		return
	}
	m := defaultInUsage.FindStringSubmatchIndex(u.String())
	if m == nil {
		return
	}
	usage := u.String()
	dt.SetString(usage[m[2]:m[3]])
	u.SetString(usage[:m[0]])
}

// usageExit turns urfave/cli's flag parsing errors into usage errors (exit status 2), with the
// nearest flag name when the flag is unknown.
func usageExit(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range c.Command.Flags {
			names = append(names, f.Names()...)
		}
		msg = "unknown flag --" + name + suggest(name, names, "--")
	}
	// run prefixes the verb and appends the pointer to --help.
	return cli.Exit(msg, 2)
}

// usageError reports a command-line mistake (exit status 2).
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}

// suggest returns "; did you mean PREFIX+X?" for the candidate nearest to s when it is close
// enough (edit distance at most a third of the longer name, at least 1; or a prefix), else "".
func suggest(s string, candidates []string, prefix string) string {
	best, bd := "", math.MaxInt
	for _, c := range candidates {
		d := editDistance(s, c)
		if len(s) >= 3 && strings.HasPrefix(c, s) {
			d = min(d, 1)
		}
		if d < bd {
			best, bd = c, d
		}
	}
	if best == "" || bd > max(1, max(len(s), len(best))/3) {
		return ""
	}
	return "; did you mean " + prefix + best + "?"
}

// editDistance is the Damerau–Levenshtein distance (optimal string alignment) between a and b.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

// warnHandler is a slog handler printing "gemmatool: warning: MSG (k=v, …)", the house format
// of warnings, for the library packages' loggers.
type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func newWarnLogger(w io.Writer) *slog.Logger { return slog.New(&warnHandler{w: w}) }

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var kv []string
	add := func(a slog.Attr) bool { kv = append(kv, a.Key+"="+a.Value.String()); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	prefix := "warning"
	if r.Level >= slog.LevelError {
		prefix = "error"
	}
	msg := "gemmatool: " + prefix + ": " + r.Message
	if len(kv) > 0 {
		msg += " (" + strings.Join(kv, ", ") + ")"
	}
	_, err := fmt.Fprintln(h.w, msg)
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnHandler{w: h.w, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *warnHandler) WithGroup(string) slog.Handler { return h }

// errInterrupted is returned by a verb that stopped on SIGINT or SIGTERM after printing what it
// had; the process exits with status 130 (128 + SIGINT), as shells expect.
var errInterrupted = errors.New("interrupted")
