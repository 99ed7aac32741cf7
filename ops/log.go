package ops

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

func newLogCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Check the registry's transparency log; make its signing key",
		Long: `The registry writes every zone registration, owner key change, suspension,
release and node admission to an append-only transparency log (a Merkle
tree, RFC 6962), and signs its size and root hash: a checkpoint.

Anyone can keep the checkpoints they have seen and ask the registry to prove
that each new one extends them. If it cannot, the registry has shown two
different histories (a split view) — evidence anyone can check with the
log's public key. 'ddnrs log verify' does that; run it from cron.`,
		Example: `  ddnrs log keygen --name ddnrs.registry/log --out log.key > log.vkey
  ddnrs log verify --log https://registry.example --key log.vkey`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(newLogVerifyCmd(e), newLogKeygenCmd(e))
	return cmd
}

// logRetries is how many times log verify sends a request again that the
// registry answered 429 or 503 with Retry-After (never past --timeout).
const logRetries = 3

// logVerifyOptions are the flags of `ddnrs log verify`.
type logVerifyOptions struct {
	Log     string        // registry API base URL
	Key     string        // verifier key, or a file holding it
	State   string        // state file; default defaultLogState()
	Origin  string        // checkpoint origin; default the key's name
	Entries bool          // fetch and check the new entries too
	Output  string        // text or json
	Timeout time.Duration // for the whole check
}

// logVerifyJSON is what --output json prints.
type logVerifyJSON struct {
	Origin       string           `json:"origin"`
	Size         uint64           `json:"size"`
	Root         []byte           `json:"root"`
	Consistent   int              `json:"consistent_with"`
	PreviousSize uint64           `json:"previous_size"`
	State        string           `json:"state"`
	FirstEntry   uint64           `json:"first_entry,omitempty"`
	Entries      []translog.Entry `json:"entries,omitempty"`
	SplitView    *splitViewJSON   `json:"split_view,omitempty"`
}

type splitViewJSON struct {
	Reason string `json:"reason"`
	A      string `json:"seen_before"`
	B      string `json:"served_now"`
}

func newLogVerifyCmd(e *env) *cobra.Command {
	opts := &logVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --log URL --key VKEY",
		Short: "Check the log's newest checkpoint against every one seen before",
		Long: `Fetch the registry log's newest checkpoint, check its signature with the
log's verifier key, and ask the registry for a consistency proof between it
and the largest checkpoint seen before: proof that the newer tree only
appended entries to the older one. Checkpoints seen are kept in a state
file (--state), so each run checks against all earlier runs.

A checkpoint is a note signed by the registry: the log's origin, its size
(number of entries) and the root hash of its Merkle tree, e.g.

  ddnrs.registry/log
  42
  yN2eT8vD...base64 root...=

  — ddnrs.registry/log Az3g...signature...

A split view is two checkpoints signed by the log's key of which neither
can be a prefix of the other: the same size with different roots, or a
consistency proof that fails. It means the registry showed different
histories to different people (or rewrote its own). Both signed
checkpoints are printed; send them to the registry's operators and users:
anyone with the verifier key can check them.

With --entries, the entries added since the last run are fetched, decoded,
printed one a line and hashed: they must give the checkpoint's root (the
first run fetches the whole log).

A registry that answers 429 (rate limited) or 503 (unavailable) with a
Retry-After header is asked again after the wait it names, at most 3
times per request and never past --timeout; each wait is said on stderr.

Exit status: 0 consistent; 3 split view (both checkpoints printed); 1 any
other failure (bad signature, wrong origin, registry unreachable or unable
to give a proof), which proves nothing either way.`,
		Example: `  ddnrs log verify --log http://127.0.0.1:8053 --key log.vkey
  ddnrs log verify --log https://registry.example --key 'ddnrs.registry/log+1a2b3c4d+AbC...' --entries
  ddnrs log verify --log https://registry.example --key log.vkey --state ./monitor.json --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogVerify(cmd.Context(), e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Log, "log", "", "the registry's API base URL, e.g. https://registry.example (required)")
	f.StringVar(&opts.Key, "key", "", "the log's verifier key, or a file holding it (required; from 'ddnrs log keygen')")
	f.StringVar(&opts.State, "state", "", "file remembering the checkpoints seen (default $XDG_STATE_HOME/ddnrs/log-monitor.json or ~/.local/state/ddnrs/log-monitor.json)")
	f.StringVar(&opts.Origin, "origin", "", "the checkpoints' origin line (default: the key's name)")
	f.BoolVar(&opts.Entries, "entries", false, "also fetch the new entries, print them and check they hash to the checkpoint's root")
	f.StringVarP(&opts.Output, "output", "o", "text", "text, or json")
	f.DurationVar(&opts.Timeout, "timeout", time.Minute, "give up after this long, waits for a busy registry included")
	return cmd
}

// defaultLogState returns $XDG_STATE_HOME/ddnrs/log-monitor.json, or
// ~/.local/state/ddnrs/log-monitor.json.
func defaultLogState() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", withHint(err, "pass --state FILE")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "ddnrs", "log-monitor.json"), nil
}

// logVerifier parses --key: a verifier key, or the file holding one.
func logVerifier(key string) (note.Verifier, error) {
	if v, err := translog.NewVerifier(key); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(key)
	if err != nil {
		return nil, withHint(fmt.Errorf("--key %q is neither a verifier key nor a readable file: %w", key, err),
			"pass the key 'ddnrs log keygen' printed (name+hash+base64), or the file it was saved to")
	}
	v, err := translog.NewVerifier(string(b))
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", key, err), "the file must hold the verifier key 'ddnrs log keygen' printed, not the signer key")
	}
	return v, nil
}

func runLogVerify(ctx context.Context, e *env, opts *logVerifyOptions) error {
	if opts.Log == "" || opts.Key == "" {
		return usagef("--log URL and --key VKEY are required")
	}
	if opts.Output != "text" && opts.Output != "json" {
		return usagef("--output %q: want text or json", opts.Output)
	}
	if !strings.HasPrefix(opts.Log, "http://") && !strings.HasPrefix(opts.Log, "https://") {
		return usagef("--log %q: want an http:// or https:// URL", opts.Log)
	}
	v, err := logVerifier(opts.Key)
	if err != nil {
		return err
	}
	state := opts.State
	if state == "" {
		if state, err = defaultLogState(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	m := &translog.Monitor{Origin: opts.Origin, Verifier: v, StatePath: state, Entries: opts.Entries}
	src := &translog.HTTPSource{BaseURL: opts.Log, Client: &http.Client{}, Retries: logRetries,
		OnRetry: func(he *translog.HTTPError, attempt int) {
			fmt.Fprintf(e.stderr, "registry busy (status %d at %s): retrying in %s (%d of %d)\n",
				he.Status, he.URL, he.RetryAfter.Round(time.Millisecond), attempt, logRetries)
		}}
	rep, err := m.Check(ctx, src)
	var sv *translog.SplitViewError
	switch {
	case errors.As(err, &sv):
		return printSplitView(e, opts, state, sv)
	case errors.Is(err, translog.ErrCheckpoint):
		return withHint(err, "check --key (and --origin) are the log's, and --log is its registry")
	case errors.Is(err, translog.ErrHTTP):
		return withHint(err, "the registry did not answer as a log should; nothing is proven either way: try again later")
	case err != nil:
		return err
	}
	c := rep.Checkpoint
	if opts.Output == "json" {
		return logWriteJSON(e, logVerifyJSON{Origin: c.Origin, Size: c.Size, Root: c.Root[:], Consistent: rep.Consistent,
			PreviousSize: rep.Previous.Size, State: state, FirstEntry: rep.FirstEntry, Entries: rep.Entries})
	}
	for i, en := range rep.Entries {
		fmt.Fprintf(e.stdout, "%d\t%s\n", rep.FirstEntry+uint64(i), logEntryLine(en))
	}
	fmt.Fprintf(e.stdout, "log %s: size %d, root %s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	switch {
	case rep.Consistent == 0:
		fmt.Fprintf(e.stdout, "first checkpoint seen; remembered in %s\n", state)
	default:
		fmt.Fprintf(e.stdout, "consistent with %d earlier %s (largest seen before: size %d)\n", rep.Consistent, "checkpoint"+plural(rep.Consistent), rep.Previous.Size)
	}
	if opts.Entries {
		fmt.Fprintf(e.stdout, "%d new entries checked; the log's %d entries hash to the root\n", len(rep.Entries), c.Size)
	}
	return nil
}

func logWriteJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// logEntryLine is one entry for people: time, kind and the fields set.
func logEntryLine(en translog.Entry) string {
	parts := []string{en.Time.UTC().Format(time.RFC3339), en.Kind.String()}
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("zone", en.Zone)
	add("group", en.Group)
	add("region", en.Region)
	add("node", en.NodeID)
	if len(en.NodeAddrs) > 0 {
		add("addrs", strings.Join(en.NodeAddrs, ","))
	}
	add("actor", en.Actor)
	if en.Reason != "" {
		parts = append(parts, fmt.Sprintf("reason=%q", en.Reason))
	}
	add("owner_key", en.OwnerKey)
	return strings.Join(parts, " ")
}

// printSplitView prints the evidence of a split view on stdout and returns
// an error that exits with ExitSplitView.
func printSplitView(e *env, opts *logVerifyOptions, state string, sv *translog.SplitViewError) error {
	if opts.Output == "json" {
		if err := logWriteJSON(e, logVerifyJSON{State: state, SplitView: &splitViewJSON{Reason: sv.Reason, A: string(sv.A), B: string(sv.B)}}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "SPLIT VIEW: %s\n\nCheckpoint seen before (kept in %s):\n\n%s\nCheckpoint served now by %s:\n\n%s",
			sv.Reason, state, sv.A, opts.Log, sv.B)
	}
	return withHint(sv, "both checkpoints above are signed by the log's key: keep them and report them to the registry's operators; %s is unchanged", state)
}

// logKeygenOptions are the flags of `ddnrs log keygen`.
type logKeygenOptions struct {
	Name string // key name = the log's origin
	Out  string // where the signer key goes
}

func newLogKeygenCmd(e *env) *cobra.Command {
	opts := &logKeygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen --out FILE [--name ORIGIN]",
		Short: "Make the key the registry signs log checkpoints with",
		Long: `Make an Ed25519 key for signing the registry log's checkpoints. The signer
key is written to FILE (mode 0600; an existing file is never overwritten):
give it to the registry's nodes ([registry] log_key_file). The verifier key
is printed on stdout: publish it, nodes ([registry] log_verifier) and
monitors ('ddnrs log verify --key') check checkpoints with it.

The key's name is the log's origin, the first line of every checkpoint.`,
		Example: `  ddnrs log keygen --out log.key > log.vkey
  ddnrs log keygen --name registry.example/log --out /etc/ddnrs/log.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogKeygen(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", translog.DefaultOrigin, "the key's name: the log's origin")
	cmd.Flags().StringVar(&opts.Out, "out", "", "file to write the signer key to (required)")
	return cmd
}

func runLogKeygen(_ context.Context, e *env, opts *logKeygenOptions) error {
	if opts.Out == "" {
		return usagef("--out FILE is required")
	}
	skey, vkey, err := note.GenerateKey(e.rand, opts.Name)
	if err != nil {
		return usagef("--name %q: %v", opts.Name, err)
	}
	fh, err := os.OpenFile(opts.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return withHint(fmt.Errorf("%s already exists: refusing to overwrite a key", opts.Out), "move the old key away first, or write the new one elsewhere with --out")
	}
	if err != nil {
		return err
	}
	_, err = fh.WriteString(skey + "\n")
	if err == nil {
		err = fh.Chmod(0o600)
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(opts.Out)
		return fmt.Errorf("write %s: %w", opts.Out, err)
	}
	fmt.Fprintln(e.stdout, vkey)
	fmt.Fprintf(e.stderr, "Wrote the signer key to %s (keep it secret). The verifier key is above: publish it.\n", opts.Out)
	fmt.Fprintf(e.stderr, "Next: ddnrs log verify --log URL --key '%s'\n", vkey)
	return nil
}
