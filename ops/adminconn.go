package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// devInfoFile is the file `ddnrs dev` writes in its data directory with
// the members' addresses and the operator's TLS files; --dev reads it.
const devInfoFile = "dev.json"

// adminOptions are the flags of every command that talks to a node's
// admin endpoint: where it is and the mutual TLS files to reach it with.
type adminOptions struct {
	Server  string        // --server HOST:PORT
	CA      string        // --ca FILE: the cluster CA certificate
	Cert    string        // --cert FILE: a certificate the CA issued
	Key     string        // --key FILE: its private key
	Dev     bool          // --dev: take all of the above from a running 'ddnrs dev'
	Data    string        // --data DIR: the data dir of that 'ddnrs dev'
	Timeout time.Duration // --timeout: bounds the whole command
}

// addAdminFlags binds the admin endpoint flags; keyFlag names the flag of
// the TLS key ("key", or "tls-key" where --key means the zone key).
func addAdminFlags(cmd *cobra.Command, o *adminOptions, keyFlag string) {
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", "", "admin endpoint `HOST:PORT` of a group member")
	f.StringVar(&o.CA, "ca", "", "cluster CA certificate `FILE` (PEM)")
	f.StringVar(&o.Cert, "cert", "", "client certificate `FILE` issued by the cluster CA (PEM)")
	f.StringVar(&o.Key, keyFlag, "", "private key `FILE` of --cert (PEM)")
	f.BoolVar(&o.Dev, "dev", false, "talk to the group 'ddnrs dev' runs: --server, --ca, --cert and --"+keyFlag+" default to its member 1 and files")
	f.StringVar(&o.Data, "data", "", "with --dev: the data `DIR` 'ddnrs dev' was given (default: its default)")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Second, "give up after this long")
}

// devMember is one member of the dev group in dev.json.
type devMember struct {
	ID    string `json:"id"`
	DNS   string `json:"dns"`
	Admin string `json:"admin"`
	Raft  string `json:"raft"`
}

// resolve fills the endpoint and files from --dev (explicit flags win),
// then checks that nothing is missing.
func (o *adminOptions) resolve(keyFlag string) error {
	if o.Data != "" && !o.Dev {
		return usagef("--data is for --dev: pass --dev too, or name the member with --server")
	}
	if o.Dev {
		dir, err := devDataDir(o.Data)
		if err != nil {
			return err
		}
		info, err := readDevInfo(dir)
		if err != nil {
			return err
		}
		if o.Server == "" && len(info.Members) > 0 {
			o.Server = info.Members[0].Admin
		}
		o.CA = orDefault(o.CA, info.CA)
		o.Cert = orDefault(o.Cert, info.Cert)
		o.Key = orDefault(o.Key, info.Key)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--server", o.Server}, {"--ca", o.CA}, {"--cert", o.Cert}, {"--" + keyFlag, o.Key}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("missing %s: name a member's admin endpoint and the TLS files to reach it, or pass --dev to use a running 'ddnrs dev'", strings.Join(missing, ", "))
	}
	if o.Timeout <= 0 {
		return usagef("--timeout %v: want > 0", o.Timeout)
	}
	return nil
}

// orDefault returns a unless it is empty, else b.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readDevInfo reads DIR/dev.json.
func readDevInfo(dir string) (*readyInfo, error) {
	path := filepath.Join(dir, devInfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, withHint(fmt.Errorf("no dev group in %s: %s does not exist", dir, path), "start one with 'ddnrs dev --data %s' (in another terminal) and run this again", dir)
	}
	if err != nil {
		return nil, err
	}
	var info readyInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}

// client loads the TLS files and returns a client for the admin endpoint.
func (o *adminOptions) client() (*admin.Client, error) {
	pool, err := pki.LoadCAPool(o.CA)
	if err != nil {
		return nil, withHint(fmt.Errorf("--ca: %w", err), "give the cluster CA certificate (ca.crt), as 'ddnrs ops ca init' wrote it")
	}
	pair, err := pki.LoadPair(o.Cert, o.Key)
	if err != nil {
		return nil, withHint(fmt.Errorf("--cert/--key: %w", err), "give a certificate the cluster CA issued and its key ('ddnrs ops cert issue')")
	}
	return admin.NewClient(pki.ClientTLS(pair, pool)), nil
}

// dial returns a client for the admin endpoint and a context bounded by
// --timeout; release cancels the context and closes idle connections, so the
// caller defers it.
func (o *adminOptions) dial(ctx context.Context) (c *admin.Client, _ context.Context, release func(), err error) {
	c, err = o.client()
	if err != nil {
		return nil, ctx, func() {}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	return c, ctx, func() { cancel(); c.CloseIdle() }, nil
}

// checkOutput refuses an --output other than table or json.
func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return usagef("--output %q: want table or json", output)
	}
	return nil
}

// writeJSONTo prints v as indented JSON.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// adminErr turns an error from the admin endpoint into one with a hint
// for the operator. server is the address that was asked.
func adminErr(err error, server string) error {
	if err == nil {
		return nil
	}
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return withHint(err, "the node did not answer in time; check it runs, or raise --timeout")
		}
		return withHint(err, "is a member's admin endpoint listening on %s? check --server, and that --cert was issued by the CA in --ca", server)
	}
	switch ae.Code {
	case admin.CodeRejected:
		return withHint(err, "%s", rejectHint(ae.Reason))
	case admin.CodeNoQuorum:
		return withHint(err, "fewer than a majority of the voters answered in time; the change may still commit once they are back. 'ddnrs ops group members' shows who is reachable")
	case admin.CodeNoLeader:
		return withHint(err, "the group has no leader (an election is running, or %s is cut off from the majority); retry in a few seconds", server)
	case admin.CodeNotLeader:
		if ae.LeaderAdmin != "" {
			return withHint(err, "send it to the leader %s: --server %s", ae.LeaderID, ae.LeaderAdmin)
		}
		return withHint(err, "the leader is %s; send it to the leader's admin endpoint", ae.LeaderID)
	case admin.CodeNotFound:
		return withHint(err, "%s holds no such zone; 'ddnrs zone publish' creates it", server)
	case admin.CodeNotHere, admin.CodeExistsElsewhere:
		return withHint(err, "the zone is held by another replica group (overlay members: %s), not by the group of %s; publish through a member of that group with --server", strings.Join(ae.Members, ", "), server)
	case admin.CodeUnavailable:
		return withHint(err, "the node is starting or stopping, or cannot reach the leader; retry in a few seconds")
	case admin.CodeBadRequest:
		return withHint(err, "the node refused the request as malformed; check the arguments")
	}
	return err
}

// rejectHints explain the state machine's rejection reasons
// (raftfsm.Reason, the one vocabulary of refusals) to the operator.
var rejectHints = map[raftfsm.Reason]string{
	raftfsm.ReasonStaleSerial:        "the group's copy of the zone changed since it was read (another publisher, or a lagging replica was asked); run the command again",
	raftfsm.ReasonWrongKey:           "the group binds this zone to another owner key; sign with the key the zone was created with",
	raftfsm.ReasonBadSignature:       "a signature did not verify; re-sign the zone with the owner key",
	raftfsm.ReasonRootMismatch:       "the signed head does not match the zone's content; re-run the command (the change was computed against another copy)",
	raftfsm.ReasonZoneExists:         "the zone already exists in the group; run the command again to publish a change instead",
	raftfsm.ReasonNameClaimed:        "the registry holds a claim of this name (another owner key, or this key on another group); nothing was created. Choose another name, or publish through a node of the group the name is placed on",
	raftfsm.ReasonDelegationRequired: delegationHint,
	raftfsm.ReasonDelegationInvalid:  delegationHint,
	raftfsm.ReasonUnknownGroup:       "the registry's node directory does not list this node's group yet (its heartbeats have not reached the registry); check [registry] admin and retry",
	raftfsm.ReasonUnknownNode:        "the node directory does not list this node id; the REST API's /v1/health lists the nodes",
	raftfsm.ReasonNodeRemoved:        "this node id was removed from the directory for good (ddnrs ops node remove); give the machine a new node id",
	raftfsm.ReasonSameGroup:          "the zone is on that group already",
	raftfsm.ReasonUnsignedRollback:   "nothing was restored; ask each zone's owner to run the command shown (ddnrs zone rollback-sign) and restore again with --rollback FILE for each, or restore a snapshot at least as new",
}

const delegationHint = "the name lies inside a zone another owner key claimed; its owner must sign a delegation, and the zone is then created through the REST API (POST /v1/zones with \"delegation\")"

// rejectHint explains a rejection reason from the state machine.
func rejectHint(reason string) string {
	if h, ok := rejectHints[raftfsm.Reason(reason)]; ok {
		return h
	}
	return fmt.Sprintf("the group's state machine refused the change (%s); nothing was applied", reason)
}

// isNotFound reports whether err is the node saying it has no such zone.
func isNotFound(err error) bool {
	var ae *admin.APIError
	return errors.As(err, &ae) && ae.Code == admin.CodeNotFound || errors.Is(err, raftfsm.ErrNoZone)
}

// leaderAdmin returns the admin address of the group's leader as the
// member at server knows it, or server itself when it leads, knows no
// leader, or cannot say. Reading the zone from the leader avoids planning
// a change against a follower's older copy.
func leaderAdmin(ctx context.Context, c *admin.Client, server string) string {
	s, err := c.Status(ctx, server)
	if err != nil || s.LeaderID == "" || s.LeaderID == s.ID {
		return server
	}
	ms, err := c.Members(ctx, server)
	if err != nil {
		return server
	}
	for _, m := range ms {
		if m.ID == s.LeaderID && m.Admin != "" {
			return m.Admin
		}
	}
	return server
}
