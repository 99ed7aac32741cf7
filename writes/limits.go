package writes

import (
	"fmt"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// ZoneLimits bound the zones a node accepts writes for, checked before a
// command is proposed, so a zone over a limit is refused before anything
// of it is committed (a staged upload at its StageBegin, which announces
// the upload's size). A refusal is a *raftfsm.RejectedError with reason
// too-large naming the limit and its setting. Zero means no limit.
type ZoneLimits struct {
	// MaxRRsets is the most RRsets (RRSIGs not counted; NSEC counted) a
	// zone may hold. Default 2,000,000.
	MaxRRsets int64 `toml:"max_zone_rrsets"`
	// MaxBytes is the most bytes a zone's RRsets may take in their stored
	// form (wire format with RRSIGs). Default 1 GiB.
	MaxBytes int64 `toml:"max_zone_bytes"`
	// MaxRRsetRecords is the most records one RRset may hold. Default
	// 10,000.
	MaxRRsetRecords int64 `toml:"max_rrset_records"`
}

// DefaultZoneLimits returns the defaults above.
func DefaultZoneLimits() ZoneLimits {
	return ZoneLimits{MaxRRsets: 2_000_000, MaxBytes: 1 << 30, MaxRRsetRecords: 10_000}
}

func (l ZoneLimits) over(origin, what string, got, limit int64, setting string) error {
	if limit <= 0 || got <= limit {
		return nil
	}
	return &raftfsm.RejectedError{Reason: raftfsm.ReasonTooLarge,
		Err: fmt.Errorf("zone %s: %s %d is above the limit of %d (setting [admin.limits] %s)", origin, what, got, limit, setting)}
}

// check refuses cmd when the zone it makes is over a limit. stored
// returns the zone's size now (RRsets), for changes.
func (l ZoneLimits) check(cmd raftfsm.Encoded, stored func() int) error {
	sets := func(origin string, puts []*zone.RRset) error {
		for _, s := range puts {
			if err := l.over(origin, fmt.Sprintf("RRset %s type %d: records", s.Name, s.Type), int64(s.NumRecords()), l.MaxRRsetRecords, "max_rrset_records"); err != nil {
				return err
			}
		}
		return nil
	}
	switch c := cmd.Cmd.(type) {
	case *raftfsm.CreateZone:
		if err := l.over(c.Change.Zone, "RRsets", int64(len(c.Change.Put)), l.MaxRRsets, "max_zone_rrsets"); err != nil {
			return err
		}
		if err := l.over(c.Change.Zone, "bytes", int64(len(cmd.Bytes)), l.MaxBytes, "max_zone_bytes"); err != nil {
			return err
		}
		return sets(c.Change.Zone, c.Change.Put)
	case *raftfsm.PublishChange:
		if err := l.over(c.Change.Zone, "RRsets", int64(stored()+len(c.Change.Put)-len(c.Change.Delete)), l.MaxRRsets, "max_zone_rrsets"); err != nil {
			return err
		}
		return sets(c.Change.Zone, c.Change.Put)
	case *raftfsm.RotateKey:
		return sets(c.Change.Zone, c.Change.Put)
	case *raftfsm.StageBegin:
		if c.Owner != nil {
			if h, err := zone.ParseHead(c.Head, &zone.Key{Zone: zone.CanonicalName(c.Zone), DNSKEY: c.Owner}); err == nil {
				if err := l.over(c.Zone, "RRsets", int64(h.Size), l.MaxRRsets, "max_zone_rrsets"); err != nil {
					return err
				}
			}
		}
		if err := l.over(c.Zone, "bytes", int64(c.Bytes), l.MaxBytes, "max_zone_bytes"); err != nil {
			return err
		}
		return l.over(c.Zone, "records in its largest RRset", int64(c.Largest), l.MaxRRsetRecords, "max_rrset_records")
	case *raftfsm.StageChunk:
		return sets(c.Zone, c.Sets)
	}
	return nil
}
