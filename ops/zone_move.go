package ops

// zone_move.go: `ddnrs ops zone move`, a zone moved between replica
// groups with no resolution gap (issue 14 item 4).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

func newOpsZoneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zone",
		Short: "Operate on where zones are served: move a zone to another group",
		Long: `Owners publish their zones with 'ddnrs zone'; the commands here are the
operator's: they change which replica group serves a zone, never what it
holds (every copy is the owner's, signed by the owner's key).`,
		Example: `  ddnrs ops zone move example.org. --to us --server 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key`,
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRunE,
	}
	cmd.AddCommand(newZoneMoveCmd())
	return cmd
}

// zoneMoveOptions are the flags of `ddnrs ops zone move`.
type zoneMoveOptions struct {
	adminOptions
	Zone   string
	To     string
	From   string
	Reason string
	Drain  time.Duration
	Output string

	out, errOut io.Writer
}

func newZoneMoveCmd() *cobra.Command {
	opts := &zoneMoveOptions{}
	cmd := &cobra.Command{
		Use:   "move ZONE --to GROUP --server REGISTRY_ADMIN --ca FILE --cert FILE --key FILE",
		Short: "Move a zone to another replica group with no resolution gap",
		Long: `Move ZONE from the group that serves it to GROUP, in four steps, each
leaving the zone answered:

  1. copy: the zone as its group holds it (the owner's signed zone, the
     same signed head and serial) is read from a member of its group and
     created in GROUP through GROUP's leader; GROUP's state machine checks
     every signature against the owner key, as for any create. Both groups
     now serve the same signed data.
  2. claim: the registry moves the zone's claim to GROUP and logs a
     zone-move entry in its transparency log; nodes that follow the log
     route the zone to GROUP from their next poll, and forget the route
     they had cached.
  3. drain: wait --drain (default 15s: three of the default 5s follow
     intervals) for every node to have read it.
  4. drop: a change the owner published to the old group meanwhile is
     copied to GROUP, then the old group drops its copy (a drop-zone for
     the owner's key; its members then answer the zone through the
     overlay, from GROUP).

Writes sent after the move reach GROUP: nodes of the old group no longer
hold the zone and forward them. A change an owner publishes in the
instant between the last copy and the drop is lost: ask owners to pause
publishing during a move, or publish again after it.

--server is a registry member's admin endpoint; your certificate must be
an operator's of both groups and of the registry, or of every group
(operator:*). A move that stopped half-way (a timeout) is resumed by
running the same command again (with --from OLDGROUP once the claim has
moved).

A zone too large for one Raft entry (a command above 256 KiB: a few
thousand RRsets) is copied as a staged upload (docs/large-zones.md):
chunks of about 256 KiB, each checked by GROUP's members, then a commit
whose owner-signed head must equal the Merkle root of everything staged;
GROUP serves nothing of it before the commit. Progress goes to stderr.
Interrupted (a timeout, a leader change, Ctrl-C), the same command
resumes the copy from the chunks GROUP holds. --timeout bounds the whole
move, copy included: give a large zone more (about a second per 10,000
RRsets on an idle machine).`,
		Example: `  ddnrs ops zone move example.org. --to us --reason "closer to its users" \
      --server 10.0.0.1:7400 --ca ca/ca.crt --cert ops/node.crt --key ops/node.key
  ddnrs ops zone move example.org. --to us --drain 30s --server 10.0.0.1:7400 ...`,
		Args: exactArgs("ZONE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Zone = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runZoneMove(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "the `GROUP` to move the zone to (required)")
	f.StringVar(&opts.From, "from", "", "the `GROUP` the zone is moved from: only to finish a move that stopped after the claim moved")
	f.StringVar(&opts.Reason, "reason", "moved by ddnrs ops zone move", "why, for the public log")
	f.DurationVar(&opts.Drain, "drain", 15*time.Second, "how long to wait between the claim's move and the old group's drop, for every node to read the move from the log (at least its [registry] follow_interval)")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	cmd.Flags().Lookup("timeout").DefValue = "2m0s"
	opts.Timeout = 2 * time.Minute
	return cmd
}

// zoneMoveJSON is what zone move prints with --output json.
type zoneMoveJSON struct {
	Zone          string `json:"zone"`
	From          string `json:"from"`
	To            string `json:"to"`
	Serial        uint32 `json:"serial"`
	RegistryIndex uint64 `json:"registry_index"`
}

func runZoneMove(ctx context.Context, opts *zoneMoveOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if _, ok := dns.IsDomainName(opts.Zone); !ok || opts.Zone == "" {
		return usagef("ZONE %q is not a domain name", opts.Zone)
	}
	origin := zone.CanonicalName(opts.Zone)
	if !admin.ValidID(opts.To) {
		return usagef("--to %q: give the group's name", opts.To)
	}
	if opts.From != "" && !admin.ValidID(opts.From) {
		return usagef("--from %q: give the group's name", opts.From)
	}
	if opts.Drain < 0 {
		return usagef("--drain %v: want 0 or more", opts.Drain)
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	progress := func(format string, args ...any) {
		if opts.Output != "json" {
			fmt.Fprintf(opts.errOut, format+"\n", args...)
		}
	}
	dir, err := c.DirectoryOf(ctx, opts.Server, origin)
	if err != nil {
		return withHint(adminErr(err, opts.Server), "--server must be a member of the registry group")
	}
	if dir.Claim == nil {
		return withHint(fmt.Errorf("%s is not claimed at the registry", origin), "a zone is moved by the group its claim names; check the name")
	}
	from := dir.Claim.Group
	dk, err := raftfsm.ParseOwnerKey(dir.Claim.Owner, origin)
	if err != nil {
		return fmt.Errorf("the claim of %s: %w", origin, err)
	}
	k := &zone.Key{Zone: origin, DNSKEY: dk}
	dst := groupAdmins(dir.Nodes, opts.To, "")
	if len(dst) == 0 {
		return withHint(fmt.Errorf("the node directory lists no node of group %q", opts.To), "name a group whose nodes send heartbeats to the registry")
	}
	res := zoneMoveJSON{Zone: origin, From: from, To: opts.To}
	var copied *zone.Zone // the copy this run made in the target, if any
	switch {
	case from == opts.To && opts.From == "":
		_, err := fmt.Fprintf(opts.out, "%s is on group %s already; nothing to do (to finish a move that stopped after its claim moved, give --from OLDGROUP)\n", origin, from)
		return err
	case from == opts.To:
		// The claim moved already: a move resumed after step 2.
		progress("the claim of %s names %s already: finishing the move from %s", origin, opts.To, opts.From)
		from = opts.From
	case opts.From != "" && opts.From != from:
		return fmt.Errorf("--from %s: the claim of %s names group %s", opts.From, origin, from)
	default:
		src := groupAdmins(dir.Nodes, from, "")
		z, err := firstCopy(ctx, c, src, origin, k)
		if err != nil {
			return fmt.Errorf("reading %s from group %s: %w", origin, from, err)
		}
		cmds, err := raftfsm.UploadCommands(nil, z, k)
		if err != nil {
			return fmt.Errorf("copying %s: %w", origin, err)
		}
		err = adoptAll(ctx, c, dst, origin, cmds, progressOut(opts))
		switch {
		case err == nil:
			copied = z // what the target holds now: finishMove need not read it back
		case !isRejected(err, raftfsm.ReasonZoneExists):
			return fmt.Errorf("copying %s to group %s (run the command again: a staged copy resumes where the group stands): %w", origin, opts.To, err)
		}
		progress("1/4 copied %s at serial %d to group %s", origin, z.Serial(), opts.To)
		mv, err := raftfsm.EncodeCommand(&raftfsm.MoveZone{Zone: origin, Group: opts.To, Reason: opts.Reason,
			Actor: raftfsm.OperatorActor, Time: time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			return usagef("%v", err)
		}
		if res.RegistryIndex, err = c.ProposeRegistryAt(ctx, opts.Server, mv); err != nil {
			return fmt.Errorf("moving the claim of %s (the copy in %s stays; run the command again): %w", origin, opts.To, adminErr(err, opts.Server))
		}
		progress("2/4 the registry's claim of %s names %s (registry index %d)", origin, opts.To, res.RegistryIndex)
		progress("3/4 waiting %v for every node to read the move from the log", opts.Drain)
		if !sleepCtx(ctx, opts.Drain) {
			return fmt.Errorf("moving %s: %w while draining; run the command again to finish", origin, ctx.Err())
		}
	}
	res.From = from
	serial, err := finishMove(ctx, c, dir.Nodes, origin, from, opts.To, dk, k, copied, progressOut(opts))
	if err != nil {
		return err
	}
	res.Serial = serial
	progress("4/4 group %s holds %s at serial %d; the other copies are dropped", opts.To, origin, serial)
	if opts.Output == "json" {
		return writeJSONTo(opts.out, res)
	}
	_, err = fmt.Fprintf(opts.out, "moved %s to group %s (serial %d)\n", origin, opts.To, serial)
	return err
}

// finishMove brings the copy in group to up to any newer one another
// group of the directory still holds (a change published during the
// move), then drops every other group's copy. target is the copy to
// holds when the caller just made it (nil: read it from to). It returns
// the serial to holds.
func finishMove(ctx context.Context, c *admin.Client, nodes []raftfsm.NodeRecord, origin, from, to string, dk *dns.DNSKEY, k *zone.Key, target *zone.Zone, progress io.Writer) (uint32, error) {
	dst := groupAdmins(nodes, to, "")
	if target == nil {
		var err error
		if target, err = firstCopy(ctx, c, dst, origin, k); err != nil {
			return 0, fmt.Errorf("reading %s from group %s: %w", origin, to, err)
		}
	}
	src := groupAdmins(nodes, from, "")
	if from == to || len(src) == 0 {
		return target.Serial(), nil
	}
	old, err := firstCopy(ctx, c, src, origin, k)
	if errors.Is(err, errNoCopy) {
		return target.Serial(), nil // dropped already
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s from group %s: %w", origin, from, err)
	}
	if zone.SerialAbove(old.Serial(), target.Serial()) {
		cmds, err := raftfsm.UploadCommands(target, old, k)
		if err != nil {
			return 0, err
		}
		if err := adoptAll(ctx, c, dst, origin, cmds, progress); err != nil {
			return 0, fmt.Errorf("copying the change of %s published during the move to %s: %w", origin, to, err)
		}
		target = old
	}
	drop, err := raftfsm.EncodeCommand(&raftfsm.DropZone{Zone: origin, Owner: dk.String(), Reason: "moved to group " + to})
	if err != nil {
		return 0, err
	}
	err = onGroup(ctx, nodes, from, "", func(ctx context.Context, addr string) error {
		_, err := c.SubmitChange(ctx, leaderAdmin(ctx, c, addr), origin, drop)
		if isRejected(err, raftfsm.ReasonNoZone) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dropping %s from group %s (group %s serves it; run the command again): %w", origin, from, to, err)
	}
	return target.Serial(), nil
}

// errNoCopy is returned by firstCopy when the group holds no copy.
var errNoCopy = errors.New("the group holds no copy")

// firstCopy reads origin, signed by k, from the first of addrs that
// holds it locally.
func firstCopy(ctx context.Context, c *admin.Client, addrs []string, origin string, k *zone.Key) (*zone.Zone, error) {
	var errs []error
	for _, a := range addrs {
		z, err := fetchZone(ctx, c, a, origin, k)
		if err == nil && z == nil {
			return nil, errNoCopy
		}
		if err == nil {
			return z, nil
		}
		var ae *admin.APIError
		if errors.As(err, &ae) && ae.Code == admin.CodeNotHere {
			return nil, errNoCopy
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errNoCopy
	}
	return nil, errors.Join(errs...)
}

// adoptAtLeader sends cmd to the leader of the group of addrs (POST
// /v1/zones/{zone}/adopt), following a not_leader answer once.
func adoptAtLeader(ctx context.Context, c *admin.Client, addrs []string, origin string, cmd []byte) (*admin.ChangeResult, error) {
	var errs []error
	for _, a := range addrs {
		leader := leaderAdmin(ctx, c, a)
		res, err := c.Adopt(ctx, leader, origin, cmd)
		var ae *admin.APIError
		if errors.As(err, &ae) && ae.Code == admin.CodeNotLeader && ae.LeaderAdmin != "" {
			res, err = c.Adopt(ctx, ae.LeaderAdmin, origin, cmd)
		}
		if err == nil || errors.As(err, &ae) && ae.Code == admin.CodeRejected {
			return res, err
		}
		errs = append(errs, adminErr(err, leader))
	}
	return nil, errors.Join(errs...)
}

// adoptAll sends cmds (raftfsm.UploadCommands: one create or change, or
// a staged upload) to the leader of the group of addrs through POST
// /v1/zones/{zone}/adopt. A staged upload goes through the uploader
// publish uses: it resumes after an interruption (a leader change, a
// member gone, a resend of the whole move) from the chunks the group
// holds, which its StageBegin answers; progress lines go to progress
// (nil: none).
func adoptAll(ctx context.Context, c *admin.Client, addrs []string, origin string, cmds [][]byte, progress io.Writer) error {
	if len(cmds) == 1 {
		_, err := adoptAtLeader(ctx, c, addrs, origin, cmds[0])
		return err
	}
	u := &uploader{to: &adoptRoute{adminRoute{c: c, servers: addrs, origin: origin}}, out: progress, origin: origin, tries: 10, pause: 500 * time.Millisecond}
	_, err := u.upload(ctx, cmds)
	return err
}

// adoptRoute is an uploadRoute to the leader of another group, through
// its adopt endpoint (no claim made or checked: the zone's claim still
// names the group it moves from).
type adoptRoute struct{ adminRoute }

func (a *adoptRoute) send(ctx context.Context, cmd []byte) (uploadStep, error) {
	res, err := a.c.Adopt(ctx, a.server, a.origin, cmd)
	if err != nil {
		return uploadStep{}, err
	}
	return uploadStep{Serial: res.Serial, Index: res.Index, Staged: res.Staged, Known: true, Repeat: res.Repeat}, nil
}

// progressOut is where zone move writes progress: stderr, or nowhere
// with --output json.
func progressOut(opts *zoneMoveOptions) io.Writer {
	if opts.Output == "json" {
		return nil
	}
	return opts.errOut
}

// isRejected reports whether err is the state machine's refusal for
// reason.
func isRejected(err error, reason raftfsm.Reason) bool {
	var ae *admin.APIError
	if errors.As(err, &ae) && ae.Code == admin.CodeRejected && ae.Reason == string(reason) {
		return true
	}
	var rej *raftfsm.RejectedError
	return errors.As(err, &rej) && rej.Reason == reason
}
