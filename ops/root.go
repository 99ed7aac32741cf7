// Package ops holds the ddnrs command line: one cobra command per
// subcommand, each a constructor that binds flags into an options struct
// and a run function that does the work. cmd/ddnrs calls Main.
package ops

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/loglevel"
	"github.com/spf13/cobra"
)

// Version is the ddnrs version, set at link time with
// -ldflags "-X github.com/ddnrs/ddnrs/ops.Version=v1.2.3"; when unset, the
// module version from the build information is used.
var Version = ""

// env is what commands read and write besides their flags: the standard
// streams, the clock and the randomness. Main uses the real ones; tests
// pass buffers, a fixed clock and a fixed random stream.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	rand           io.Reader
}

// Main runs ddnrs with args (os.Args[1:]) on the process's standard
// streams and returns the code to exit with. ctx is cancelled on SIGINT or
// SIGTERM by the caller.
func Main(ctx context.Context, args []string) ExitCode {
	return Execute(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// Execute runs ddnrs with args on the given streams, in process, and
// returns the exit code Main would give. Errors are printed to stderr
// with a hint; nothing else is printed there except logs and progress.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) ExitCode {
	return execute(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, rand: rand.Reader})
}

func execute(ctx context.Context, args []string, e *env) ExitCode {
	root := newRootCmd(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	printError(e.stderr, cmd, err)
	return exitCode(err)
}

// rootOptions are the global flags.
type rootOptions struct {
	LogLevel string // debug, info, warn or error; default info
}

const rootExample = `  # Try it: a node on this machine serving a demo zone, with dig commands to run
  ddnrs dev

  # Publish your own zone
  ddnrs zone keygen example.com.        # prints the key's file base, e.g. Kexample.com.+015+12345
  cat > example.com.zone <<'EOF'
  $ORIGIN example.com.
  $TTL 3600
  @    SOA  ns1 hostmaster 1 7200 3600 1209600 300
  @    NS   ns1
  ns1  A    192.0.2.1
  www  A    192.0.2.80
  EOF
  ddnrs zone sign --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone verify --key Kexample.com.+015+12345.key example.com.zone.signed
  ddnrs dev --zone example.com.zone --key Kexample.com.+015+12345.private`

func newRootCmd(e *env) *cobra.Command {
	opts := &rootOptions{}
	cmd := &cobra.Command{
		Use:   "ddnrs",
		Short: "DDNRS: a distributed DNS whose answers only the zone owner can sign",
		Long: `ddnrs runs DDNRS nodes and the zone owner's tools.

A zone owner holds an Ed25519 key and signs every record set (DNSSEC,
algorithm 15) on their own machine; nodes store and serve what the owner
signed and cannot forge it. Start with 'ddnrs dev' to run a node here, then
'ddnrs zone' to make a key and sign a zone of your own.`,
		Example:       rootExample,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRunE,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loglevel.Parse(opts.LogLevel); err != nil {
				return &usageError{err: fmt.Errorf("--log-level %w", err)}
			}
			return nil
		},
	}
	cmd.SetIn(e.stdin)
	cmd.SetOut(e.stdout)
	cmd.SetErr(e.stderr)
	cmd.CompletionOptions.HiddenDefaultCmd = true
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	cmd.PersistentFlags().StringVar(&opts.LogLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")

	cmd.AddCommand(newVersionCmd(e))
	cmd.AddCommand(newZoneCmd(e))
	cmd.AddCommand(newACMECmd(e))
	cmd.AddCommand(newKeyCmd())
	cmd.AddCommand(newDevCmd())
	cmd.AddCommand(newOpsCmd(e))
	cmd.AddCommand(newNodeCmd())
	cmd.AddCommand(newResolveCmd(e))
	cmd.AddCommand(newStubCmd())
	cmd.AddCommand(newLogCmd(e))
	return cmd
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ddnrs version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(e.stdout, versionString())
			return err
		},
	}
}

// versionString returns "ddnrs VERSION (GOVERSION, OS/ARCH)".
func versionString() string {
	v := Version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("ddnrs %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// commandLogger returns the logger a command should use: text to the
// command's stderr at the level --log-level chose.
func commandLogger(cmd *cobra.Command) *slog.Logger {
	level := slog.LevelInfo
	if f := cmd.Root().PersistentFlags().Lookup("log-level"); f != nil {
		if l, err := loglevel.Parse(f.Value.String()); err == nil {
			level = l
		}
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
}

// usageError is a wrong command line: an unknown flag, a missing or extra
// argument, an invalid flag value. It exits with ExitUsage.
type usageError struct {
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// hintError carries advice for the user, printed under the error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHint returns err with a hint printed under it; nil stays nil.
func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// printError writes err to w as "error: ..." (continuation lines of a
// multi-line error indented) and its hint, or the usage hint for a usage
// error.
func printError(w io.Writer, cmd *cobra.Command, err error) {
	lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	fmt.Fprintf(w, "error: %s\n", lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "  %s\n", l)
	}
	var he *hintError
	var ue *usageError
	switch {
	case errors.As(err, &he):
		fmt.Fprintf(w, "hint: %s\n", he.hint)
	case errors.As(err, &ue) && cmd != nil:
		fmt.Fprintf(w, "hint: see '%s --help'\n", cmd.CommandPath())
	}
}

// exactArgs requires exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("%s needs %s", cmd.CommandPath(), strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usagef("%s takes %s, got %d arguments: %s", cmd.CommandPath(), strings.Join(names, " "), len(args), strings.Join(args, " "))
		}
		return nil
	}
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %s", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// groupRunE is the RunE of a command that only groups subcommands: help
// without arguments, a usage error for an unknown subcommand.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
}
