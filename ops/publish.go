package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// publishOptions are the flags and argument of `ddnrs zone publish`.
type publishOptions struct {
	adminOptions        // --tls-key is the TLS key here; --key is the zone key
	ZoneKey      string // --key KEYFILE: the owner key
	RotateFrom   string // --rotate-from KEYFILE: the zone's current owner key
	File         string // ZONEFILE
	Output       string
	// The owner's route, through the REST API with an API key
	// (publish_api.go): no cluster certificate needed.
	API        string        // --api URL (or DDNRS_API)
	APIKeyFile string        // --api-key-file FILE (or DDNRS_API_KEY_FILE, DDNRS_API_KEY)
	DryRun     bool          // --dry-run: checked by the group, applied nowhere
	Delete     bool          // --delete: delete the zone and release its name
	Serial     string        // --serial auto|date
	Validity   time.Duration // --validity: how long new signatures last (with --api)
	Delegation string        // --delegation: base64 from 'ddnrs zone delegate', for a create inside another key's zone
	Expires    string        // --expires: create an ephemeral zone torn down then (a duration from now or an RFC 3339 time)
	Idle       string        // --idle: create an ephemeral zone torn down after this long without a change
	CreateOnly bool          // 'zone create': refuse to change a zone the group holds

	out, errOut io.Writer
}

func newZonePublishCmd(e *env) *cobra.Command {
	opts := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish --key KEYFILE ZONEFILE",
		Short: "Sign a zone here and publish it, or what changed, to a replica group",
		Long: `Publish the zone in ZONEFILE to a replica group. The signing happens here,
with the owner key: the group only checks the signatures and stores them.

publish asks the leader (found through the member at --server) for the
group's copy of the zone. When
the group has none, it signs ZONEFILE whole and sends a create command that
binds the zone to the key. Otherwise it re-signs only the record sets that
changed, with a serial above the group's, and sends those with the new
signed zone head. It prints the serial and the Raft log index the group
committed the change at, and which members serve it already: the leader
waits, up to the group's ack_wait (default 1 s), for every member to have
applied the change before it answers, so a read from any member listed
right after publish returns sees it; a member not listed (down, slow)
serves it once it catches up. Nodes of other groups that cached an
answer of the zone serve it for at most [overlay] relayed_ttl (default
5 s) after it changed.

The group refuses a change that is not signed by the zone's key, whose
serial is not above its own (someone else published meanwhile: run publish
again), or whose head does not match its content; the reason is printed.

A change too large for one Raft log entry (1 MiB; a zone of more than a
few thousand records) is sent as a staged upload of the whole zone, in
chunks of about 256 KiB, each committed in turn, then a commit that swaps
the zone in at once; publish prints its progress on stderr. Interrupted
(a leader lost, a member gone), it resumes where the group stands; run
again after a failure, it goes on with the chunks the group holds. There
--timeout bounds each chunk on average, not the whole upload. A zone over
the group's limits ([admin.limits]) is refused before anything of it is
committed. See docs/large-zones.md.

To move the zone to a new key, give the current key with --rotate-from.

Zone owners publish through the REST API with an API key instead, no
cluster certificate needed: --api URL and --api-key-file FILE (or DDNRS_API
and DDNRS_API_KEY_FILE / DDNRS_API_KEY in the environment). publish then
reads the group's copy through the API, prints what changes (+ added,
- removed, ~ changed), and sends only the changed RRsets in the JSON change
format (docs/signed-change.md); a change above 256 KiB goes as a staged
upload of the whole zone through /v1/zones/{zone}/upload, with progress
on stderr, resuming after interruptions, a 429 waited out (--timeout
bounds each command on average). --dry-run has the group check the change
without applying it; --delete deletes the zone and frees its name;
--serial date numbers serials YYYYMMDDnn. A group that has just lost its
leader (503) is asked again until a minute has passed; a resend of a change
that had committed is answered as done.

Through --server (the admin endpoint), publish sends the change to the
leader, and while the leader cannot take it (it just died: unreachable;
an election is running; the outcome of a write is unknown) it sends it
again to the group's other members in turn until one commits it (for at
most 5 s, or --timeout); a member that is not the leader forwards it to
the new one. A leader's death thus costs the election (well under a second on a
LAN), not a failed publish. When the outcome stays unknown (the group
answered no_quorum, or stopped answering, while the change may be in a
member's log), publish reads the group's copy from its members for up to
10 s: if the change is there it committed and publish succeeds; if not,
the error says what the group holds, and publishing again is safe.`,
		Example: `  ddnrs zone publish --dev --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone publish --server 10.0.0.1:7400 --ca ca.crt --cert owner.crt --tls-key owner.key \
      --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone publish --dev --key Knew.private --rotate-from Kold.private example.com.zone
  ddnrs zone publish --api https://ddnrs.example.net:8443 --api-key-file ~/.ddnrs/key \
      --key Kexample.com.+015+12345.private --dry-run example.com.zone
  DDNRS_API=https://ddnrs.example.net:8443 DDNRS_API_KEY_FILE=key ddnrs zone publish \
      --key Kexample.com.+015+12345.private --serial date example.com.zone`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runPublish(cmd.Context(), e, opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "tls-key")
	cmd.Flags().StringVar(&opts.ZoneKey, "key", "", "owner key `KEYFILE` (.private, or .key with the .private beside it)")
	cmd.Flags().StringVar(&opts.RotateFrom, "rotate-from", "", "the zone's current owner key `KEYFILE` (private), to hand the zone to --key")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	cmd.Flags().StringVar(&opts.API, "api", "", "publish through the REST API at `URL` with an API key (or set "+envAPI+")")
	cmd.Flags().StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding the API key, with --api (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "with --api: have the group check the change, apply nothing")
	cmd.Flags().BoolVar(&opts.Delete, "delete", false, "with --api: delete the zone (signed by --key) and release its name")
	cmd.Flags().StringVar(&opts.Serial, "serial", "auto", "auto (one above the group's, or the file's when higher), or date (YYYYMMDDnn)")
	cmd.Flags().StringVar(&opts.Delegation, "delegation", "", "with --api, creating a zone inside another key's zone: the `BASE64` delegation its owner printed with 'ddnrs zone delegate'")
	cmd.Flags().DurationVar(&opts.Validity, "validity", 30*24*time.Hour, "with --api: how long new signatures stay valid (keep them fresh with 'ddnrs zone keep-signed')")
	addLeaseFlags(cmd, opts)
	return cmd
}

// publishPlan is a signed change ready to send.
type publishPlan struct {
	Origin string
	Action zone.Action
	// Create: the group has no such zone. Rotate: the key changes.
	Create, Rotate bool
	Old, New       *zone.Zone // the group's copy (nil if none) and the new zone
	Put, Delete    int        // RRsets in the change
	Cmd            []byte     // the encoded raftfsm command (a staged upload's StageBegin)
	// Staged is the staged upload (raftfsm.StagedCommands) of a zone
	// whose change does not fit in one Raft log entry; nil otherwise.
	Staged [][]byte
	// Progress receives a staged upload's progress lines; nil for none.
	Progress io.Writer
}

// publishJSON is what --output json prints.
type publishJSON struct {
	Zone      string `json:"zone"`
	Action    string `json:"action"`
	OldSerial uint32 `json:"old_serial,omitempty"`
	Serial    uint32 `json:"serial"`
	Index     uint64 `json:"index,omitempty"`
	Repeat    bool   `json:"repeat,omitempty"` // an earlier send had committed it
	Put       int    `json:"put"`
	Delete    int    `json:"delete"`
	// Members and Pending: the members that served the change when the
	// group answered, and those that had not applied it yet
	// (admin.ChangeResult; group.ack_wait).
	Members []string `json:"members,omitempty"`
	Pending []string `json:"pending,omitempty"`
}

func runPublish(ctx context.Context, e *env, opts *publishOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if opts.ZoneKey == "" {
		return usagef("--key KEYFILE is required: the owner key that signs the zone")
	}
	k, err := loadKey(opts.ZoneKey, true)
	if err != nil {
		return err
	}
	var oldKey *zone.Key
	if opts.RotateFrom != "" {
		if oldKey, err = loadKey(opts.RotateFrom, true); err != nil {
			return err
		}
		if zone.CanonicalName(oldKey.Zone) != zone.CanonicalName(k.Zone) {
			return usagef("--rotate-from is a key of %s, --key of %s", oldKey.Zone, k.Zone)
		}
	}
	if opts.Serial != "auto" && opts.Serial != "date" {
		return usagef("--serial %q: auto or date", opts.Serial)
	}
	u, err := readZone(opts.File, k.Zone, k)
	if err != nil {
		return err
	}
	if opts.API != "" || os.Getenv(envAPI) != "" {
		return runPublishAPI(ctx, e, opts, k, oldKey, u)
	}
	if opts.DryRun || opts.Delete || opts.Serial != "auto" || opts.Validity != 30*24*time.Hour || opts.Delegation != "" || opts.Expires != "" || opts.Idle != "" || opts.CreateOnly {
		return usagef("--dry-run, --delete, --serial date, --validity, --delegation, --expires, --idle and 'zone create' need --api (the owner's route through the REST API)")
	}
	if err := opts.resolve("tls-key"); err != nil {
		return err
	}
	parent := ctx
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	// The group's copy comes from the leader; right after its death
	// (unreachable, or no leader yet) ask again until a new one answers,
	// for at most rideOut.
	var server string
	var plan *publishPlan
	giveUp := time.Now().Add(rideOut)
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		server = leaderAdmin(ctx, c, opts.Server)
		plan, err = planPublish(ctx, c, server, u, k, oldKey, e.now())
		if err == nil || !retryElsewhere(err) || time.Now().After(giveUp) || !sleepCtx(ctx, pause) {
			break
		}
	}
	if err != nil {
		return err
	}
	plan.Progress = opts.errOut
	if plan.Cmd == nil {
		return reportPublish(opts.out, opts.Output, plan, nil)
	}
	if plan.Staged != nil {
		// A staged upload: --timeout bounds each of its commands, on
		// average, not the whole upload.
		uctx, cancel := context.WithTimeout(parent, opts.Timeout*time.Duration(len(plan.Staged)))
		defer cancel()
		ctx = uctx
	}
	res, err := submitFollowedUp(ctx, c, server, plan, k, opts.errOut)
	if err != nil {
		return err
	}
	return reportPublish(opts.out, opts.Output, plan, res)
}

// fetchZone returns the group's copy of origin as the member at server
// holds it, with its head verified against k (or nil when the group has
// no such zone).
func fetchZone(ctx context.Context, c *admin.Client, server, origin string, k *zone.Key) (*zone.Zone, error) {
	exp, err := c.Zone(ctx, server, origin)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, adminErr(fmt.Errorf("reading the group's copy of %s: %w", origin, err), server)
	}
	z, err := zone.ParseFile(strings.NewReader(exp.ZoneFile), origin, "the group's copy of "+origin)
	if err != nil {
		return nil, fmt.Errorf("%s sent a copy of %s that does not parse: %w", server, origin, err)
	}
	if exp.Head == "" {
		return nil, fmt.Errorf("%s sent a copy of %s without a signed head", server, origin)
	}
	h, err := zone.ParseHead([]byte(exp.Head), k)
	if err != nil {
		return nil, withHint(fmt.Errorf("the group's copy of %s is not signed by key %d: %w", origin, k.Tag(), err),
			"sign with the key the zone was created with, or hand the zone to this key with --rotate-from OLDKEY")
	}
	if h.Serial != z.Serial() {
		return nil, fmt.Errorf("%s sent a copy of %s at serial %d with a head for serial %d", server, origin, z.Serial(), h.Serial)
	}
	z.Head = h
	return z, nil
}

// planPublish fetches the group's copy of u's zone and signs what is to
// be published: the whole zone if the group has none, else the changed
// RRsets re-signed with a serial above the group's. With oldKey the
// group's copy is read with oldKey and the zone handed to k.
func planPublish(ctx context.Context, c *admin.Client, server string, u *zone.Zone, k, oldKey *zone.Key, now time.Time) (*publishPlan, error) {
	origin := u.Origin
	headKey := k
	if oldKey != nil {
		headKey = oldKey
	}
	old, err := fetchZone(ctx, c, server, origin, headKey)
	if err != nil {
		return nil, err
	}
	if oldKey != nil && old == nil {
		return nil, usagef("the group has no zone %s to rotate: publish it without --rotate-from", origin)
	}
	return planFrom(old, old, u, k, oldKey, now)
}

// planFrom signs u against base (what the owner last published: the
// group's copy old, or an owner's copy when the group has none) and
// encodes the command that takes the group from old to the result. Cmd
// is nil when there is nothing to send.
func planFrom(old, base, u *zone.Zone, k, oldKey *zone.Key, now time.Time) (*publishPlan, error) {
	return planWith(old, base, u, k, oldKey, zone.PrepareOptions{Sign: zone.DefaultSignOptions(now), Margin: zone.RefreshMargin})
}

// planWith is planFrom with the signing window and refresh margin in o
// (`ddnrs zone keep-signed`).
func planWith(old, base, u *zone.Zone, k, oldKey *zone.Key, o zone.PrepareOptions) (*publishPlan, error) {
	origin := u.Origin
	next, act, err := zone.PrepareWith(base, u, k, o)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", origin, err)
	}
	p := &publishPlan{Origin: origin, Action: act, Old: old, New: next, Create: old == nil, Rotate: oldKey != nil}
	if act == zone.Unchanged && !p.Create {
		return p, nil
	}
	cs := zone.SignedDiff(old, next)
	p.Put, p.Delete = len(cs.Put), len(cs.Delete)
	if p.Rotate {
		p.Cmd, err = raftfsm.RotateCommand(old, next, oldKey, k)
	} else {
		p.Cmd, err = raftfsm.ChangeCommand(old, next, k)
	}
	if err != nil {
		return nil, fmt.Errorf("encode the change to %s: %w", origin, err)
	}
	if len(p.Cmd) > raftfsm.ChunkBytes {
		if p.Rotate {
			return nil, fmt.Errorf("the rotation of %s is a %d-byte command, above the %d-byte bound of a raft log entry: rotate the key of a zone this large with a smaller zone first, or publish it under the old key", origin, len(p.Cmd), raftfsm.MaxEntryBytes)
		}
		// Too large for one entry: upload the whole zone in chunks.
		if p.Staged, err = raftfsm.StagedCommands(next, k); err != nil {
			return nil, fmt.Errorf("encode the upload of %s: %w", origin, err)
		}
		p.Cmd = p.Staged[0]
		p.Put, p.Delete = len(next.RRsets()), 0
	}
	return p, nil
}

// submitPublish sends the plan's command and waits for the commit.
func submitPublish(ctx context.Context, c *admin.Client, server string, p *publishPlan) (*admin.ChangeResult, error) {
	var res *admin.ChangeResult
	var err error
	if p.Staged != nil {
		to := &adminRoute{c: c, servers: groupServers(ctx, c, server), origin: p.Origin}
		u := &uploader{to: to, out: p.Progress, origin: p.Origin, tries: 10, pause: 500 * time.Millisecond}
		var step uploadStep
		if step, err = u.upload(ctx, p.Staged); err == nil {
			res = &admin.ChangeResult{Serial: step.Serial, Index: step.Index, Repeat: step.Repeat, Staged: step.Staged}
		}
	} else {
		res, server, err = submitAnyMember(ctx, c, server, p)
	}
	if err == nil {
		return res, nil
	}
	var ae *admin.APIError
	if errors.As(err, &ae) && ae.Code == admin.CodeRejected {
		return nil, adminErr(fmt.Errorf("the group rejected the change to %s (serial %d): %w", p.Origin, p.New.Serial(), ae), server)
	}
	return nil, adminErr(fmt.Errorf("publish %s: %w", p.Origin, err), server)
}

// submitAnyMember sends the plan's command to server (the leader, as
// publish found it) and, while the group cannot take it there (the
// member is unreachable, has no leader, or could not forward), to the
// group's other members in turn, pausing 50 ms then up to 500 ms between
// rounds, until one answers, rideOut has passed since the first failure
// or ctx (--timeout) ends; so a publish rides out the election after a
// leader's death. Resending is safe: the group answers
// a change it has committed already as a repeat. It returns the result,
// the member that gave it (or was asked last) and the error.
func submitAnyMember(ctx context.Context, c *admin.Client, server string, p *publishPlan) (*admin.ChangeResult, string, error) {
	servers := groupServers(ctx, c, server)
	pause := 50 * time.Millisecond
	var best error // what to report: a member's answer beats "unreachable"
	var giveUp time.Time
	for {
		for _, s := range servers {
			res, err := c.SubmitChange(ctx, s, p.Origin, p.Cmd)
			if err == nil {
				return res, s, nil
			}
			if ctx.Err() != nil && best != nil {
				return nil, server, best
			}
			if !retryElsewhere(err) || ctx.Err() != nil {
				return nil, s, err
			}
			if _, ok := errors.AsType[*admin.APIError](err); ok || best == nil {
				best, server = err, s
			}
			if giveUp.IsZero() {
				giveUp = time.Now().Add(rideOut)
			}
		}
		if time.Now().After(giveUp) || !sleepCtx(ctx, pause) {
			return nil, server, best
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// rideOut bounds how long publish keeps sending a change around the
// group after the first failure: an election takes well under a second
// on a LAN (3.3 s at worst measured, with split votes; bench/README.md);
// a group without a leader for longer has lost its majority.
const rideOut = 5 * time.Second

// retryElsewhere reports whether a write that failed with err may be
// sent again, to this or another member: the member could not be
// reached, or the group could not take the write now.
func retryElsewhere(err error) bool {
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		return errors.Is(err, admin.ErrUnavailable) // unreachable, reset
	}
	switch ae.Code {
	case admin.CodeNoLeader, admin.CodeNotLeader, admin.CodeUnavailable:
		return true
	}
	// no_quorum is reported at once: the leader could not reach a
	// majority within its apply timeout, and the change may still commit.
	return false
}

// sleepCtx waits d, or less when ctx ends first; it reports whether the
// whole wait passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// what says in words what a plan does.
func (p *publishPlan) what() string {
	switch {
	case p.Create:
		return "created"
	case p.Action == zone.Unchanged:
		return "unchanged"
	case p.Rotate:
		return "rotated"
	}
	return p.Action.String()
}

func reportPublish(w io.Writer, output string, p *publishPlan, res *admin.ChangeResult) error {
	j := publishJSON{Zone: p.Origin, Action: p.what(), Serial: p.New.Serial(), Put: p.Put, Delete: p.Delete}
	if p.Old != nil {
		j.OldSerial = p.Old.Serial()
	}
	if res != nil {
		j.Serial, j.Index, j.Repeat = res.Serial, res.Index, res.Repeat
		j.Members, j.Pending = res.Members, res.Pending
	}
	if output == "json" {
		return writeJSONTo(w, j)
	}
	var err error
	switch {
	case res == nil:
		_, err = fmt.Fprintf(w, "%s is unchanged at serial %d; nothing to publish\n", p.Origin, j.Serial)
	case res.Repeat:
		// A resend after a lost reply (a timeout under load): the change
		// is in, so say what it was, as the first reply would have.
		_, err = fmt.Fprintf(w, "%s is at serial %d (%s, serial %d -> %d): an earlier send of this change had committed it (the group answered a repeat)\n",
			p.Origin, j.Serial, p.what(), j.OldSerial, j.Serial)
	case p.Create:
		_, err = fmt.Fprintf(w, "created %s at serial %d (%d RRsets), committed at raft index %d\n", p.Origin, j.Serial, p.Put, j.Index)
	default:
		_, err = fmt.Fprintf(w, "published %s serial %d -> %d (%s: %d RRsets put, %d deleted), committed at raft index %d\n",
			p.Origin, j.OldSerial, j.Serial, p.what(), p.Put, p.Delete, j.Index)
	}
	if err == nil && res != nil {
		err = reportMembers(w, res)
	}
	return err
}

// reportMembers says which members of the group serve a change the
// group acknowledged (read-your-writes, group.ack_wait); nothing when
// the group did not say (ack_wait 0, an older node).
func reportMembers(w io.Writer, res *admin.ChangeResult) error {
	all := len(res.Members) + len(res.Pending)
	var err error
	switch {
	case all == 0:
	case len(res.Pending) == 0:
		_, err = fmt.Fprintf(w, "served by every member of the group (%d of %d)\n", len(res.Members), all)
	default:
		_, err = fmt.Fprintf(w, "served by %d of %d members; not applied yet on %s (down, slow or unreachable: each serves it once it catches up)\n",
			len(res.Members), all, strings.Join(res.Pending, ", "))
	}
	return err
}
