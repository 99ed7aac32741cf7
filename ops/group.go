package ops

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/hostport"
)

// recommendedVoters is the smallest group that survives two failures.
const recommendedVoters = 5

// newGroupCmd returns `ddnrs ops group`.
func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Inspect and change a replica group's membership",
		Long: `A replica group is a set of nodes that agree, through Raft, on every write
to the zones they serve. Voters elect the leader and must acknowledge a
write (a majority of them); non-voters are read replicas that receive every
committed write but do not count for the majority.

These commands talk to any member's admin endpoint over mutual TLS; writes
(join, remove, transfer-leader) are forwarded to the leader. With --dev they
talk to the group 'ddnrs dev' runs.`,
		Example: `  ddnrs ops group members --dev
  ddnrs ops group status --server 127.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key
  ddnrs ops group join node4 127.0.0.4:7300 --dev
  ddnrs ops group join reader1 127.0.0.5:7300 --nonvoter --dev
  ddnrs ops group transfer-leader --to node2 --dev
  ddnrs ops group remove node4 --dev`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		newGroupBootstrapCmd(),
		newGroupMembersCmd(),
		newGroupStatusCmd(),
		newGroupJoinCmd(),
		newGroupRemoveCmd(),
		newGroupTransferCmd(),
		newGroupRecoverCmd(),
		newGroupReplaceCmd(),
	)
	return cmd
}

// ---- members ----

// membersOptions are the flags of `ddnrs ops group members`.
type membersOptions struct {
	adminOptions
	Output string

	out, errOut io.Writer
}

func newGroupMembersCmd() *cobra.Command {
	opts := &membersOptions{}
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the group's members, their roles and how far each trails the leader",
		Long: `List the members of the group as its leader sees them (the member at
--server asks the leader; when no leader is known or reachable, it lists
its own view): Raft server ID, Raft address, role (leader, follower or
non-voter), the last log index each has written, the index each has
applied to its zones, and how far each trails the leader.

It warns on stderr when the group has fewer than five voters (it cannot
survive two failures) or an even number (one more voter adds no safety).`,
		Example: `  ddnrs ops group members --dev
  ddnrs ops group members --dev --output json
  ddnrs ops group members --server 127.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runMembers(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

// memberRow is one member as members prints it.
type memberRow struct {
	admin.MemberStatus
	// Role is leader, follower or non-voter.
	Role string `json:"role"`
}

// membersJSON is what --output json prints.
type membersJSON struct {
	Members []memberRow `json:"members"`
	Voters  int         `json:"voters"`
	// Warning is the advice also printed on stderr, if any.
	Warning string `json:"warning,omitempty"`
}

// memberAdmin returns the admin address of member id as the group lists
// it, or "".
func memberAdmin(ctx context.Context, c *admin.Client, server, id string) string {
	rows, err := c.Members(ctx, server)
	if err != nil {
		return ""
	}
	for _, r := range rows {
		if r.ID == id {
			return r.Admin
		}
	}
	return ""
}

// removedServing asks a removed member (its admin endpoint at addr)
// whether it knows it was removed: the leader told it before answering,
// and it stops answering for the group's zones as a member once it knows.
func removedServing(ctx context.Context, c *admin.Client, id, addr string) string {
	if addr == "" {
		return "its admin address is not known: it stops answering for the group's zones as a member once it hears from no leader for its group.removed_check"
	}
	st, err := c.Status(ctx, addr)
	switch {
	case err != nil:
		return fmt.Sprintf("unreachable (%v): if it is still running, it stops answering for the group's zones as a member once it hears from no leader for its group.removed_check", err)
	case st.Removed == "":
		return "still answers for the group's zones as a member: it stops once it hears from no leader for its group.removed_check (stop it to stop it now)"
	}
	return "stopped answering for the group's zones as a member (" + st.Removed + ")"
}

func runMembers(ctx context.Context, opts *membersOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	ms, err := c.Members(ctx, opts.Server)
	if err != nil {
		return adminErr(err, opts.Server)
	}
	rows := make([]memberRow, len(ms))
	voters := 0
	for i, m := range ms {
		rows[i] = memberRow{MemberStatus: m, Role: role(m)}
		if m.Voter {
			voters++
		}
	}
	warning := voterWarning(voters)
	if warning != "" {
		fmt.Fprintf(opts.errOut, "warning: %s\n", warning)
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, membersJSON{Members: rows, Voters: voters, Warning: warning})
	}
	return printMembers(opts.out, rows)
}

// role names a member's role.
func role(m admin.MemberStatus) string {
	switch {
	case m.Leader:
		return "leader"
	case m.Voter:
		return "follower"
	}
	return "non-voter"
}

// lag says in words how far a member trails the leader.
func lag(m memberRow) string {
	switch {
	case m.Error != "":
		return "unknown: " + m.Error
	case m.Leader:
		return "-"
	case m.Trails < 0:
		return "unknown (no leader)"
	case m.Trails == 0:
		return "up to date"
	case m.Trails == 1:
		return "trails leader by 1 entry"
	}
	return "trails leader by " + strconv.FormatInt(m.Trails, 10) + " entries"
}

func printMembers(w io.Writer, rows []memberRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tROLE\tLAST INDEX\tAPPLIED\tLAG")
	for _, r := range rows {
		last, applied := "-", "-"
		if r.Error == "" {
			last, applied = strconv.FormatUint(r.LastIndex, 10), strconv.FormatUint(r.AppliedIndex, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Raft, r.Role, last, applied, lag(r))
	}
	return tw.Flush()
}

// voterWarning returns advice when the number of voters gives poor fault
// tolerance, or "".
func voterWarning(voters int) string {
	tolerates := (voters - 1) / 2
	switch {
	case voters == 0:
		return "the group has no voters"
	case voters < recommendedVoters:
		return fmt.Sprintf("the group has %d voter%s and survives the loss of %d; use at least %d voters (an odd number) to survive two failures", voters, plural(voters), tolerates, recommendedVoters)
	case voters%2 == 0:
		return fmt.Sprintf("the group has an even number of voters (%d): it survives the loss of %d, no more than %d voters would; add or remove one", voters, tolerates, voters-1)
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ---- status ----

// statusOptions are the flags of `ddnrs ops group status`.
type statusOptions struct {
	adminOptions
	Output string

	out io.Writer
}

func newGroupStatusCmd() *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show one member's Raft state, term, indexes and leader",
		Long: `Show the Raft state (Leader, Follower, Candidate), term, last log index,
commit index and applied index of the member at --server, which leader it
follows and when it last heard from it, and its DNS, admin and Raft
addresses.`,
		Example: `  ddnrs ops group status --dev
  ddnrs ops group status --dev --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			return runStatus(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

func runStatus(ctx context.Context, opts *statusOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	s, err := c.Status(ctx, opts.Server)
	if err != nil {
		return adminErr(err, opts.Server)
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, s)
	}
	leader := s.LeaderID
	switch {
	case leader == "":
		leader = "none known"
	case leader == s.ID:
		leader += " (this node)"
	default:
		leader = fmt.Sprintf("%s at %s, last heard %dms ago", s.LeaderID, s.LeaderRaft, s.LastContactMS)
	}
	ready := "yes"
	switch {
	case s.Removed != "":
		ready = "no: " + s.Removed
	case !s.Ready:
		ready = "no"
	}
	tw := tabwriter.NewWriter(opts.out, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"ID", s.ID},
		{"STATE", s.State},
		{"TERM", strconv.FormatUint(s.Term, 10)},
		{"LAST INDEX", strconv.FormatUint(s.LastIndex, 10)},
		{"COMMIT INDEX", strconv.FormatUint(s.CommitIndex, 10)},
		{"APPLIED INDEX", strconv.FormatUint(s.AppliedIndex, 10)},
		{"LEADER", leader},
		{"READY", ready},
		{"ZONES", strconv.Itoa(s.Zones)},
		{"DNS", s.DNS},
		{"ADMIN", s.Admin},
		{"RAFT", s.Raft},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// ---- join ----

// joinOptions are the flags and arguments of `ddnrs ops group join`.
type joinOptions struct {
	adminOptions
	ID       string
	RaftAddr string
	NonVoter bool
	Output   string

	out, errOut io.Writer
}

func newGroupJoinCmd() *cobra.Command {
	opts := &joinOptions{}
	cmd := &cobra.Command{
		Use:   "join ID RAFTADDR",
		Short: "Add a node to the group, as a voter or a non-voting read replica",
		Long: `Add the node with Raft server ID ID, whose Raft listener is at RAFTADDR
(HOST:PORT), to the group. The node must be running with a certificate from
the cluster CA and no Raft state of its own (group.bootstrap = false); it
receives a snapshot and the log from the leader, then serves every zone.

With --nonvoter it joins as a read replica: it serves DNS from its copy
and receives every committed write, but does not vote or count towards
the majority, so adding it never makes writes slower or less available.

A node configured with group.join asks to be added by itself; this
command is for adding one by hand.`,
		Example: `  ddnrs ops group join node4 127.0.0.4:7300 --dev
  ddnrs ops group join reader1 10.0.0.9:7300 --nonvoter --server 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key`,
		Args: exactArgs("ID", "RAFTADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID, opts.RaftAddr = args[0], args[1]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runJoin(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().BoolVar(&opts.NonVoter, "nonvoter", false, "add a non-voting read replica")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

// changeJSON is what join, remove and transfer-leader print with
// --output json.
type changeJSON struct {
	Action  string `json:"action"`
	ID      string `json:"id,omitempty"`
	Leader  string `json:"leader,omitempty"`
	Voters  int    `json:"voters,omitempty"`
	Warning string `json:"warning,omitempty"`
	// Serving (remove) says whether the removed member stopped answering
	// for the group's zones as a member.
	Serving string `json:"removed_member,omitempty"`
}

func runJoin(ctx context.Context, opts *joinOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if _, _, err := hostport.Split(opts.RaftAddr); err != nil {
		return usagef("RAFTADDR %q: %v", opts.RaftAddr, err)
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	err = c.Join(ctx, opts.Server, admin.JoinRequest{ID: opts.ID, RaftAddr: opts.RaftAddr, NonVoter: opts.NonVoter})
	if err != nil {
		return adminErr(err, opts.Server)
	}
	kind := "voter"
	if opts.NonVoter {
		kind = "non-voter"
	}
	res := changeJSON{Action: "joined", ID: opts.ID}
	res.Voters, res.Warning = countVoters(ctx, c, opts.Server)
	return reportChange(opts.out, opts.errOut, opts.Output, res, fmt.Sprintf("added %s (%s) as a %s", opts.ID, opts.RaftAddr, kind))
}

// countVoters asks for the members after a change, for the voter
// warning. A failure here does not fail the command: the change is made.
func countVoters(ctx context.Context, c *admin.Client, server string) (int, string) {
	ms, err := c.Members(ctx, server)
	if err != nil {
		return 0, ""
	}
	voters := 0
	for _, m := range ms {
		if m.Voter {
			voters++
		}
	}
	return voters, voterWarning(voters)
}

// reportChange prints the outcome of a membership change and its warning.
func reportChange(out, errOut io.Writer, output string, res changeJSON, text string) error {
	if res.Warning != "" {
		fmt.Fprintf(errOut, "warning: %s\n", res.Warning)
	}
	if output == "json" {
		return writeJSONTo(out, res)
	}
	if res.Voters > 0 {
		text += fmt.Sprintf("; the group has %d voter%s", res.Voters, plural(res.Voters))
	}
	if res.Serving != "" {
		text += "\n" + res.ID + ": " + res.Serving
	}
	_, err := fmt.Fprintln(out, text)
	return err
}

// ---- remove ----

// removeOptions are the flags and arguments of `ddnrs ops group remove`.
type removeOptions struct {
	adminOptions
	ID     string
	Output string

	out, errOut io.Writer
}

func newGroupRemoveCmd() *cobra.Command {
	opts := &removeOptions{}
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member from the group",
		Long: `Remove the member with Raft server ID ID from the group's configuration.
The leader can remove itself: it hands over leadership first. A removed
node keeps its data but no longer receives writes. The leader tells it
before answering, and it then stops answering for the group's zones as a
member: it answers them as any other node does (asked of the members over
the overlay and verified, or REFUSED without the overlay), and its
/readyz says not ready, removed. One that cannot be told finds out when it
has heard from no leader for its [group] removed_check (default 10s). The
command says which. Stop it, and clear its data directory before it joins
again.`,
		Example: `  ddnrs ops group remove node4 --dev`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runRemove(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

func runRemove(ctx context.Context, opts *removeOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	removedAdmin := memberAdmin(ctx, c, opts.Server, opts.ID) // before: it leaves the list
	if err := c.Remove(ctx, opts.Server, admin.RemoveRequest{ID: opts.ID}); err != nil {
		return adminErr(err, opts.Server)
	}
	res := changeJSON{Action: "removed", ID: opts.ID}
	res.Voters, res.Warning = countVoters(ctx, c, opts.Server)
	res.Serving = removedServing(ctx, c, opts.ID, removedAdmin)
	return reportChange(opts.out, opts.errOut, opts.Output, res, "removed "+opts.ID)
}

// ---- transfer-leader ----

// transferOptions are the flags of `ddnrs ops group transfer-leader`.
type transferOptions struct {
	adminOptions
	To     string
	Output string

	out, errOut io.Writer
}

func newGroupTransferCmd() *cobra.Command {
	opts := &transferOptions{}
	cmd := &cobra.Command{
		Use:   "transfer-leader",
		Short: "Hand leadership to another voter",
		Long: `Ask the leader to hand leadership to the voter --to names, or, without
--to, to the most up-to-date other voter. Writes pause for the transfer
(milliseconds) instead of an election timeout: do this before stopping the
leader for maintenance.`,
		Example: `  ddnrs ops group transfer-leader --dev
  ddnrs ops group transfer-leader --to node2 --dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runTransfer(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	cmd.Flags().StringVar(&opts.To, "to", "", "Raft server `ID` of the voter to hand leadership to (default: the most up-to-date)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	return cmd
}

func runTransfer(ctx context.Context, opts *transferOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	if opts.To != "" {
		if s, err := c.Status(ctx, opts.Server); err == nil && s.LeaderID == opts.To {
			return reportChange(opts.out, opts.errOut, opts.Output, changeJSON{Action: "unchanged", ID: opts.To, Leader: opts.To}, opts.To+" already leads the group")
		}
	}
	if err := c.TransferLeader(ctx, opts.Server, admin.TransferRequest{ID: opts.To}); err != nil {
		return adminErr(err, opts.Server)
	}
	res := changeJSON{Action: "transferred", ID: opts.To}
	text := "leadership transferred"
	if s, err := c.Status(ctx, opts.Server); err == nil && s.LeaderID != "" {
		res.Leader = s.LeaderID
		text += "; the leader is now " + s.LeaderID
	}
	return reportChange(opts.out, opts.errOut, opts.Output, res, text)
}
