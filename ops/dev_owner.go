package ops

// dev_owner.go: the owner's copy. dev plays the zone owner too: it keeps
// what it signed in a zone store of its own (zones.db in the data
// directory, raftfsm.StorePath), publishes through the admin endpoint,
// and adopts what an earlier run left.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// openOwnerCopy opens DATA/zones.db, the owner's copy: what dev last
// published as the zones' owner, or what 'ddnrs ops store restore-zone' put there.
// dev holds it (and its lock) while it runs.
func openOwnerCopy(data string) (*raftfsm.Store, error) {
	s, err := raftfsm.OpenStore(raftfsm.StorePath(data))
	switch {
	case errors.Is(err, raftfsm.ErrLocked):
		return nil, withHint(err, "another ddnrs is using the data directory %s; stop it or pass another --data", data)
	case errors.Is(err, raftfsm.ErrCorrupt):
		return nil, withHint(err, "the data directory %s holds a damaged store; move it aside or pass another --data", data)
	}
	return s, err
}

// publishDevZones is the owner's side: each zone is read from the group,
// signed here (whole, or what changed since the group's copy, or since
// the owner's copy when the group has none) and sent to the leader,
// which commits it; the owner's copy is then updated. A change refused
// as stale (the member asked had not yet applied the latest entry) is
// planned again.
func publishDevZones(ctx context.Context, opts *devOptions, c *admin.Client, g *devGroup, owner *raftfsm.Store, zones []*devZone) error {
	for _, dz := range zones {
		u := dz.zone
		origin := u.Origin
		big := u.Len() >= bigZone
		for try := 1; ; try++ {
			server, err := g.leaderAdmin(ctx, c)
			if err != nil {
				return err
			}
			old, err := fetchZone(ctx, c, server, origin, dz.key)
			if err != nil {
				return err
			}
			base := old
			if old == nil {
				oc, err := owner.Get(origin)
				if err != nil && !errors.Is(err, raftfsm.ErrNoZone) {
					return fmt.Errorf("read the owner's copy of %s: %w", origin, err)
				}
				base = oc
			}
			start := time.Now()
			if big {
				fmt.Fprintf(opts.out, "preparing %s (%d names: sign, or re-sign what changed)...\n", origin, u.Len())
			}
			plan, err := planFrom(old, base, u, dz.key, nil, time.Now())
			if err != nil {
				return fmt.Errorf("sign %s from %s: %w", origin, dz.source, err)
			}
			if big {
				fmt.Fprintf(opts.out, "%s %s in %v\n", origin, plan.Action, time.Since(start).Round(time.Millisecond))
			}
			dz.action = plan.Action
			dz.zone = plan.New
			plan.Progress = opts.out
			if plan.Cmd != nil {
				res, err := submitPublish(ctx, c, server, plan)
				var ae *admin.APIError
				if err != nil && try < 3 && errors.As(err, &ae) && (ae.Code == admin.CodeRejected && ae.Reason == "stale-serial" || ae.Code == admin.CodeNoLeader || ae.Code == admin.CodeNotLeader) {
					continue
				}
				if err != nil {
					return err
				}
				dz.index = res.Index
			}
			if err := keepOwnerCopy(owner, plan.New); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// keepOwnerCopy stores z as the owner's copy of its zone.
func keepOwnerCopy(owner *raftfsm.Store, z *zone.Zone) error {
	err := owner.Put(z)
	if errors.Is(err, raftfsm.ErrStaleSerial) {
		// The group's copy went back (a snapshot restore): follow it.
		if err = owner.Delete(z.Origin); err == nil {
			err = owner.Put(z)
		}
	}
	if err != nil {
		return fmt.Errorf("keep the owner's copy of %s: %w", z.Origin, err)
	}
	return nil
}

// adoptOwnerZones publishes, as they are, the zones of the owner's copy
// that dev was not given and the group does not have (a zone 'ddnrs
// ops store restore-zone' seeded), bound to the key that signed
// their heads. It returns every zone of the owner's copy not given.
func adoptOwnerZones(ctx context.Context, c *admin.Client, g *devGroup, owner *raftfsm.Store, given []*devZone) ([]*devZone, error) {
	origins, err := owner.List()
	if err != nil {
		return nil, err
	}
	skip := make(map[string]bool)
	for _, dz := range given {
		skip[dz.zone.Origin] = true
	}
	var out []*devZone
	for _, origin := range origins {
		if skip[origin] {
			continue
		}
		z, err := owner.Get(origin)
		if err != nil {
			return nil, fmt.Errorf("read the owner's copy of %s: %w", origin, err)
		}
		k := headKey(z)
		if k == nil {
			continue // no signed head: nothing the group would accept
		}
		server, err := g.leaderAdmin(ctx, c)
		if err != nil {
			return nil, err
		}
		_, err = c.Zone(ctx, server, origin)
		if isNotFound(err) {
			cmds, cerr := raftfsm.UploadCommands(nil, z, k)
			if cerr != nil {
				return nil, fmt.Errorf("encode %s: %w", origin, cerr)
			}
			p := &publishPlan{Origin: origin, New: z, Create: true, Cmd: cmds[0]}
			if len(cmds) > 1 {
				p.Staged = cmds
			}
			_, err = submitPublish(ctx, c, server, p)
		}
		if err != nil {
			return nil, adminErr(err, server)
		}
		out = append(out, &devZone{source: "kept in " + owner.Path(), key: k, zone: z, action: zone.Unchanged})
	}
	return out, nil
}

// headKey returns the apex DNSKEY of z that signed its head, as a public
// key, or nil.
func headKey(z *zone.Zone) *zone.Key {
	s := z.Apex().RRset(dns.TypeDNSKEY)
	if z.Head == nil || s == nil {
		return nil
	}
	for _, rr := range s.Records() {
		k, err := zone.ParseKey([]byte(rr.String()+"\n"), nil)
		if err != nil {
			continue
		}
		if _, err := zone.ParseHead(z.Head.Note, k); err == nil {
			return k
		}
	}
	return nil
}

// bigZone is the name count from which dev prints a line before signing.
const bigZone = 1000
