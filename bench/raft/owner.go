package raftbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// RegisterName is the owner name, relative to the zone, of the TXT RRset
// every write sets: the zone's register.
const RegisterName = "reg"

// Outcome is what a write's client learned.
type Outcome uint8

const (
	// OK: the group committed the write and said so.
	OK Outcome = iota
	// Rejected: the state machine refused the change (it had no effect).
	Rejected
	// Unknown: the call failed without a verdict (no quorum, no leader,
	// a member unreachable): the write may or may not commit.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Rejected:
		return "rejected"
	case Unknown:
		return "unknown"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Record is one write as its client saw it: the history the
// linearizability check reads.
type Record struct {
	Client int
	Zone   string
	// Base is the serial the change was computed against (the CAS
	// condition: the state machine refuses it unless the zone is at
	// Base); Serial is the serial it sets and Value the register's value.
	Base, Serial uint32
	Value        string
	// Seq numbers the client's distinct changes from 1; a retry of an
	// unacknowledged change keeps its Seq.
	Seq          int
	Call, Return time.Time
	Outcome      Outcome
	Index        uint64 // Raft index, OK only
	Reason       string // rejection reason, Rejected only
	Err          error  // nil for OK
	Member       string // admin address the write was sent to
}

// Owner is a zone owner publishing signed changes: it keeps the signed
// zone it knows the group holds, signs each next version with zone.Diff
// and Apply (zone.Prepare, as `ddnrs zone publish` does) and sends
// raftfsm.ChangeCommand's command to a member's admin endpoint.
//
// Every change sets the register TXT to a new value; with Grow it also
// adds the name w<Seq> (TXT "<value>"), so every acknowledged change
// leaves a name a query can look for; with Batch N it sets the TXT of
// the N names b1..bN to the value too (N more signed RRsets a change:
// an owner batching its changes into one change set). One goroutine
// publishes; Acked, Serial and Value may be called from others.
type Owner struct {
	Client int
	Origin string
	Key    *zone.Key
	Grow   bool
	Batch  int // names b1..bN whose TXT every change sets (0: none)
	// SignWindow, when set, gives the signing window of the next
	// changes (a change re-signs every RRset it touches); nil is
	// zone.DefaultSignOptions. Set it between Publish calls only.
	SignWindow func(now time.Time) zone.SignOptions

	cluster *Cluster
	mu      sync.Mutex // guards cur and acked for readers other than the publisher
	cur     *zone.Zone // what the group holds as far as we know; nil before creation
	pending *change    // the change being published, resent until a verdict
	sent    *change    // pending, when a send of it got no verdict
	seq     int
	acked   []Record
}

type change struct {
	cmd          []byte
	next         *zone.Zone
	base, serial uint32
	value        string
	seq          int
}

// NewOwner makes an owner with a fresh Ed25519 key for origin.
func (c *Cluster) NewOwner(client int, origin string, grow bool) (*Owner, error) {
	origin = dns.Fqdn(origin)
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Owner{Client: client, Origin: origin, Key: k, Grow: grow, cluster: c}, nil
}

// Acked returns the acknowledged writes (and those whose commit a later
// rejection proved), oldest first.
func (o *Owner) Acked() []Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.acked)
}

// Serial is the serial of the zone the owner knows the group holds.
func (o *Owner) Serial() uint32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.serial()
}

func (o *Owner) serial() uint32 {
	if o.cur == nil {
		return 0
	}
	return o.cur.Serial()
}

// Value is the register value of the zone the owner knows the group holds.
func (o *Owner) Value() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return ""
	}
	return registerValue(o.cur, o.Origin)
}

func registerValue(z *zone.Zone, origin string) string {
	n := z.Node(zone.CanonicalName(RegisterName + "." + origin))
	if n == nil {
		return ""
	}
	for _, rr := range z.Records() {
		if t, ok := rr.(*dns.TXT); ok && zone.CanonicalName(t.Hdr.Name) == zone.CanonicalName(RegisterName+"."+origin) && len(t.Txt) > 0 {
			return t.Txt[0]
		}
	}
	return ""
}

// unsigned builds the owner's zone file content for change seq.
func (o *Owner) unsigned(seq int, value string) (*zone.Zone, error) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR("$ORIGIN " + o.Origin + "\n" + s)
		if err != nil {
			panic(err) // the templates below are constant and valid
		}
		return r
	}
	rrs := []dns.RR{
		rr("@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60"),
		rr("@ 3600 IN NS ns1"),
		rr("ns1 3600 IN A 127.0.0.1"),
		rr(fmt.Sprintf("%s 60 IN TXT %q", RegisterName, value)),
	}
	for i := 1; i <= o.Batch; i++ {
		rrs = append(rrs, rr(fmt.Sprintf("b%d 60 IN TXT %q", i, value)))
	}
	if o.Grow {
		for i := 1; i <= seq; i++ {
			rrs = append(rrs, rr(fmt.Sprintf("w%d 60 IN TXT %q", i, o.valueOf(i))))
		}
	}
	return zone.New(o.Origin, rrs)
}

func (o *Owner) valueOf(seq int) string { return fmt.Sprintf("c%d-%d", o.Client, seq) }

// prepare signs the next change on top of cur.
func (o *Owner) prepare() (*change, error) {
	seq := o.seq + 1
	value := o.valueOf(seq)
	u, err := o.unsigned(seq, value)
	if err != nil {
		return nil, err
	}
	var next *zone.Zone
	if o.SignWindow != nil {
		next, _, err = zone.PrepareWith(o.cur, u, o.Key, zone.PrepareOptions{Sign: o.SignWindow(time.Now()), Margin: zone.RefreshMargin})
	} else {
		next, _, err = zone.Prepare(o.cur, u, o.Key, time.Now())
	}
	if err != nil {
		return nil, err
	}
	cmd, err := raftfsm.ChangeCommand(o.cur, next, o.Key)
	if err != nil {
		return nil, err
	}
	o.seq = seq
	return &change{cmd: cmd, next: next, base: o.serial(), serial: next.Serial(), value: value, seq: seq}, nil
}

// ErrDiverged is returned when the group refused a change for a reason
// that a single owner's history cannot explain (anything but a stale
// serial after an unacknowledged retry): a bug in the group.
var ErrDiverged = errors.New("group refused a change the owner's history allows")

// Publish sends the owner's next change (or resends the last one that
// got no verdict) to the admin endpoint addr and returns what the client
// learned. A write acknowledged becomes the owner's current zone. A
// rejection of a resent change with stale-serial proves the earlier send
// committed: the owner moves on, and the record says Rejected. Any
// other rejection returns ErrDiverged alongside the record.
func (o *Owner) Publish(ctx context.Context, addr string) (Record, error) {
	if o.pending == nil {
		ch, err := o.prepare()
		if err != nil {
			return Record{}, err
		}
		o.pending = ch
	}
	ch := o.pending
	rec := Record{Client: o.Client, Zone: o.Origin, Base: ch.base, Serial: ch.serial, Value: ch.value, Seq: ch.seq, Member: addr}
	rec.Call = time.Now()
	res, err := o.cluster.Client.SubmitChange(ctx, addr, o.Origin, ch.cmd)
	rec.Return = time.Now()
	rec.Err = err
	var ae *admin.APIError
	switch {
	case err == nil:
		rec.Outcome = OK
		rec.Index = res.Index
		if res.Serial != ch.serial {
			return rec, fmt.Errorf("%w: acknowledged serial %d, sent %d", ErrDiverged, res.Serial, ch.serial)
		}
		o.adopt(rec)
	case errors.As(err, &ae) && ae.Code == admin.CodeRejected:
		rec.Outcome = Rejected
		rec.Reason = ae.Reason
		proves := ae.Reason == string(raftfsm.ReasonStaleSerial)
		if o.cur == nil {
			proves = ae.Reason == string(raftfsm.ReasonZoneExists)
		}
		if proves && o.sent == ch {
			// Our earlier send of this very change committed.
			o.adopt(rec)
			return rec, nil
		}
		o.pending = nil
		o.seq--
		return rec, fmt.Errorf("%w: %v", ErrDiverged, err)
	default:
		rec.Outcome = Unknown
		o.sent = ch
	}
	return rec, nil
}

// adopt makes the pending change the owner's current zone.
func (o *Owner) adopt(rec Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cur = o.pending.next
	o.pending = nil
	o.sent = nil
	o.acked = append(o.acked, rec)
}
