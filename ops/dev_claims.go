package ops

// dev_claims.go: the registry side of dev: its transparency log keys, the
// claims of the served zones, the first reviewer's API key, and the lines
// that print them.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// devLogKeys returns the transparency log's verifier key, making the key
// pair in the data directory on first start (the signer key mode 0600).
func devLogKeys(out io.Writer, data string) (vkey string, err error) {
	if out == nil {
		out = io.Discard
	}
	pub := filepath.Join(data, devLogPub)
	if b, err := os.ReadFile(pub); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(data, devLogKey), []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.Write(pub, []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "made the transparency log's key in %s (verifier key in %s)\n", filepath.Join(data, devLogKey), pub)
	return vkey, nil
}

// claimDevZones claims in the registry (dev's own group) every zone dev
// serves that has no claim yet, for its owner key on the dev group: a
// zone dev creates is claimed by the admin endpoint already, but a data
// directory made by a build before claims holds zones the registry does
// not know. A name claimed by another key is reported, not fatal: dev
// keeps serving what the operator gave it.
func claimDevZones(ctx context.Context, out io.Writer, g *devGroup, zones []*devZone) error {
	m1 := g.members[0].n
	reg, err := m1.Registry()
	if err != nil {
		return err
	}
	listed := false
	for _, dz := range zones {
		origin := dz.zone.Origin
		if _, ok := reg.Claim(origin); ok || dz.key == nil {
			continue
		}
		if !listed {
			// A claim names the group, which must be in the node
			// directory: wait for the members' first heartbeat.
			if err := waitDirectory(ctx, g); err != nil {
				return err
			}
			listed = true
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: origin, Owner: dz.key.DNSKEY.String(), Group: devGroupName,
			Actor: raftfsm.NodeOperatorActor(m1.ID()), Time: m1.Now()})
		if err != nil {
			return err
		}
		err = m1.ProposeRegistry(ctx, cmd)
		var rej *raftfsm.RejectedError
		switch {
		case errors.As(err, &rej):
			fmt.Fprintf(out, "warning: %s is served but not registered: %v\n", origin, err)
		case err != nil:
			return fmt.Errorf("claim %s in the registry: %w", origin, err)
		default:
			fmt.Fprintf(out, "registered %s (it had no claim) in the transparency log\n", origin)
		}
	}
	return nil
}

// waitDirectory returns once the registry's node directory lists the dev
// group, polling every pollEvery until ctx ends.
func waitDirectory(ctx context.Context, g *devGroup) error {
	m1 := g.members[0].n
	for {
		reg, err := m1.Registry()
		if err != nil {
			return err
		}
		if slices.ContainsFunc(reg.Nodes(), func(r raftfsm.NodeRecord) bool { return r.Group == devGroupName }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the dev group in the node directory: %w", ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// firstReviewerKey issues an admin ("reviewer") API key when the registry
// holds no key yet (first start) and returns it; "" on later starts.
func firstReviewerKey(ctx context.Context, c *admin.Client, g *devGroup) (string, error) {
	m1 := g.members[0].n
	reg, err := m1.Registry()
	if err != nil {
		return "", err
	}
	if len(reg.Keys()) > 0 {
		return "", nil
	}
	res, err := c.IssueKey(ctx, m1.AdminAddr(), admin.IssueKeyRequest{Name: "dev reviewer", Actions: []string{"admin"}, Suffixes: []string{"."}})
	if err != nil {
		return "", adminErr(err, m1.AdminAddr())
	}
	return res.Key, nil
}

// printRegistry prints the REST API and web pages, and the reviewer key
// when one was just issued (shown this once).
func printRegistry(w io.Writer, g *devGroup, reviewer string) {
	base := "http://" + g.members[0].n.APIAddr()
	fmt.Fprintf(w, "\nregistry (this group) and REST API: %s\n", base)
	fmt.Fprintf(w, "  web pages:   %s/  (apply: %s/apply, review: %s/review/login)\n", base, base, base)
	fmt.Fprintf(w, "  API:         %s/v1/openapi.json   health: %s/v1/health   log: %s/v1/log/checkpoint\n", base, base, base)
	if reviewer != "" {
		fmt.Fprintf(w, "  reviewer key (admin; shown once, only its hash is kept):\n    %s\n", reviewer)
		fmt.Fprintf(w, "  sign in at %s/review/login, or: curl -H 'Authorization: Bearer %s' %s/v1/applications\n", base, reviewer, base)
	} else {
		fmt.Fprintf(w, "  a reviewer key was issued at first start (shown then); issue another with:\n    ddnrs ops registry key issue --dev --name reviewer\n")
	}
}
