package ops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
)

// snapshotMagic starts every snapshot the state machine writes (raftfsm
// Persist); restore refuses a file without it before sending anything.
const snapshotMagic = "DDNRSSNP"

// progressStep is how many bytes pass between two progress lines.
const progressStep = 16 << 20

// newSnapshotCmd returns `ddnrs ops snapshot`.
func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save a replica group's state to a file, or restore it",
		Long: `A snapshot holds every zone of a group, its owner key binding and the
members' addresses, with a version header and a checksum trailer. 'save'
streams one from a member; 'restore' replaces the whole group's state with
one, through the leader.`,
		Example: `  ddnrs ops snapshot save --dev backup.snap
  ddnrs ops snapshot restore --dev --yes backup.snap`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(newSnapshotSaveCmd(), newSnapshotRestoreCmd())
	return cmd
}

// snapshotOptions are the flags and argument of `ddnrs ops snapshot save`
// and `restore`.
type snapshotOptions struct {
	adminOptions
	File string
	Yes  bool // restore: confirmed
	// Rollbacks (restore) are files of owners' rollback statements.
	Rollbacks []string
	Output    string

	out, errOut io.Writer
}

// snapshotJSON is what --output json prints.
type snapshotJSON struct {
	Action string `json:"action"`
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	Server string `json:"server"`
}

func newSnapshotSaveCmd() *cobra.Command {
	opts := &snapshotOptions{}
	cmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Stream a snapshot of the group's state from a member into FILE",
		Long: `Stream a snapshot of the state of the member at --server into FILE. The
file is written beside FILE under a temporary name and renamed when the
whole snapshot arrived, so FILE is never half written. An existing FILE is
not overwritten. Large snapshots print a progress line on stderr.`,
		Example: `  ddnrs ops snapshot save --dev backup.snap
  ddnrs ops snapshot save --server 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key backup.snap`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runSnapshotSave(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

func runSnapshotSave(ctx context.Context, opts *snapshotOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	if _, err := os.Lstat(opts.File); err == nil {
		return withHint(fmt.Errorf("%s already exists", opts.File), "choose another file name, or remove it first")
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()

	tmp, err := os.CreateTemp(filepath.Dir(opts.File), "."+filepath.Base(opts.File)+".*.tmp")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	pw := &progressWriter{w: tmp, out: opts.errOut, label: "received"}
	if err := c.Snapshot(ctx, opts.Server, pw); err != nil {
		return adminErr(err, opts.Server)
	}
	if pw.n < int64(len(snapshotMagic)) {
		return fmt.Errorf("snapshot from %s is empty (%d bytes)", opts.Server, pw.n)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := checkSnapshotFile(tmp.Name()); err != nil {
		return fmt.Errorf("snapshot from %s: %w", opts.Server, err)
	}
	// Link instead of rename, so a FILE made meanwhile is not replaced.
	if err := os.Link(tmp.Name(), opts.File); err != nil {
		return err
	}
	os.Remove(tmp.Name())
	done = true
	if opts.Output == "json" {
		return writeJSONTo(opts.out, snapshotJSON{Action: "saved", File: opts.File, Bytes: pw.n, Server: opts.Server})
	}
	_, err = fmt.Fprintf(opts.out, "saved a snapshot of %s (%s) from %s to %s\n", sizeText(pw.n), plainBytes(pw.n), opts.Server, opts.File)
	return err
}

func newSnapshotRestoreCmd() *cobra.Command {
	opts := &snapshotOptions{}
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the group's state with a snapshot",
		Long: `Send the snapshot in FILE (as 'snapshot save' wrote it) to the group. The
leader checks its header and checksum and replaces the state of every
member with it: zones published after the snapshot was taken are gone.
It asks for --yes because it cannot be undone.

A zone the snapshot would move back to an older serial needs its owner's
consent: every node of another group that has verified the newer serial
would refuse the older one as a replay (SERVFAIL, EDE 6 "zone serial older
than one already seen"). Without it the restore is refused, naming each
such zone, its serial now and in the snapshot, and the command its owner
runs ('ddnrs zone rollback-sign ... > ZONE.rollback'); pass the owners'
statements with --rollback (once per zone). The group then keeps each
statement beside its zone and hands it with its answers, so the other
groups accept exactly that older version; the owner's next publish must
take a serial above the one rolled back from.`,
		Example: `  ddnrs ops snapshot restore --dev --yes backup.snap
  # refused: example.com. would go back from serial 7 to 5; its owner signs:
  ddnrs zone rollback-sign --key Kexample.com.+015+12345 --zone example.com. \
      --from 7 --to 5 --root BASE64 > example.com.rollback
  ddnrs ops snapshot restore --dev --yes --rollback example.com.rollback backup.snap`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runSnapshotRestore(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "confirm that the group's current state is to be replaced")
	cmd.Flags().StringArrayVar(&opts.Rollbacks, "rollback", nil, "an owner's rollback statement `FILE` ('ddnrs zone rollback-sign') for a zone the snapshot moves to an older serial; repeat per zone")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

func runSnapshotRestore(ctx context.Context, opts *snapshotOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if !opts.Yes {
		return usagef("restore replaces every zone of the group with the snapshot's; pass --yes to do it")
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	if err := checkSnapshotFile(opts.File); err != nil {
		return err
	}
	var rollbacks [][]byte
	for _, rf := range opts.Rollbacks {
		b, err := os.ReadFile(rf)
		if err != nil {
			return withHint(fmt.Errorf("--rollback: %w", err), "give the file 'ddnrs zone rollback-sign' wrote")
		}
		if !bytes.HasPrefix(b, []byte("ddnrs-rollback/v1\n")) {
			return withHint(fmt.Errorf("--rollback %s: not a rollback statement", rf), "give the file 'ddnrs zone rollback-sign' wrote")
		}
		rollbacks = append(rollbacks, b)
	}
	f, err := os.Open(opts.File)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Only the leader restores. Send to the member that leads now, and
	// when leadership moves while the snapshot is on its way (an election
	// under load), to the new leader: at most three tries.
	server := leaderAdmin(ctx, c, opts.Server)
	for try := 1; ; try++ {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		pr := &progressReader{r: bufio.NewReader(f), out: opts.errOut, label: "sent"}
		err = c.Restore(ctx, server, pr, rollbacks...)
		var ae *admin.APIError
		if err == nil || try == 3 || !errors.As(err, &ae) || (ae.Code != admin.CodeNotLeader && ae.Code != admin.CodeNoLeader) {
			break
		}
		fmt.Fprintf(opts.errOut, "%s: %v; sending it to the leader again\n", server, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		server = leaderAdmin(ctx, c, opts.Server)
	}
	if err != nil {
		return adminErr(err, server)
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, snapshotJSON{Action: "restored", File: opts.File, Bytes: fi.Size(), Server: server})
	}
	_, err = fmt.Fprintf(opts.out, "restored the group from %s (%s) through %s\n", opts.File, sizeText(fi.Size()), server)
	return err
}

// errNotSnapshot is returned when a file does not start like a snapshot.
var errNotSnapshot = errors.New("not a DDNRS snapshot")

// checkSnapshotFile checks that path starts with the snapshot magic. The
// checksum is the node's to verify: it reads the whole stream anyway.
func checkSnapshotFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte(snapshotMagic)) {
		return withHint(fmt.Errorf("%s: %w (no %q header)", path, errNotSnapshot, snapshotMagic), "give a file 'ddnrs ops snapshot save' wrote")
	}
	return nil
}

// progressWriter counts bytes and prints a line every progressStep.
type progressWriter struct {
	w     io.Writer
	out   io.Writer
	label string
	n     int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n = progress(p.out, p.label, p.n, int64(n))
	return n, err
}

// progressReader counts bytes read and prints a line every progressStep.
type progressReader struct {
	r     io.Reader
	out   io.Writer
	label string
	n     int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n = progress(p.out, p.label, p.n, int64(n))
	return n, err
}

// progress returns before+n and prints a line when the sum crosses a
// multiple of progressStep.
func progress(out io.Writer, label string, before, n int64) int64 {
	after := before + n
	if after/progressStep > before/progressStep {
		fmt.Fprintf(out, "snapshot: %s %s\n", sizeText(after), label)
	}
	return after
}

// sizeText is n bytes for humans.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// plainBytes is n as "N bytes".
func plainBytes(n int64) string { return fmt.Sprintf("%d bytes", n) }
