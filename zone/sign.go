package zone

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ErrSignWindow is returned when SignOptions give an expiration that is
// not after the inception.
var ErrSignWindow = errors.New("signature expiration is not after inception")

// SignOptions say when the signatures made by Sign and Apply are valid.
// The package reads no clock: the caller passes the times.
type SignOptions struct {
	Inception  time.Time // start of every RRSIG's validity; DefaultSignOptions: now - 1h (clock skew)
	Expiration time.Time // end of every RRSIG's validity; DefaultSignOptions: now + 30 days
	// Now is the time the signed zone head records; zero means Inception.
	Now time.Time
}

// DefaultSignOptions returns signatures valid from an hour before now
// (so validators with slow clocks accept them) to 30 days after.
func DefaultSignOptions(now time.Time) SignOptions {
	return SignOptions{
		Inception:  now.Add(-time.Hour),
		Expiration: now.Add(30 * 24 * time.Hour),
		Now:        now,
	}
}

func (o SignOptions) check() error {
	if !o.Expiration.After(o.Inception) {
		return fmt.Errorf("%w: inception %s, expiration %s", ErrSignWindow,
			o.Inception.UTC().Format(time.RFC3339), o.Expiration.UTC().Format(time.RFC3339))
	}
	return nil
}

func (o SignOptions) headTime() time.Time {
	if o.Now.IsZero() {
		return o.Inception
	}
	return o.Now
}

// checkSigner returns an error when k cannot sign zone origin.
func checkSigner(k *Key, origin string, opt SignOptions) error {
	if k == nil || k.Private == nil {
		return ErrNoPrivateKey
	}
	if err := k.CheckZone(origin); err != nil {
		return err
	}
	return opt.check()
}

// Sign returns z signed with k the way dnssec-signzone signs: the owner
// key in the apex DNSKEY RRset (TTL the SOA MINIMUM, or 3600 when that is
// 0, unless a DNSKEY RRset is already there), an RRSIG on every
// authoritative RRset, an NSEC chain (RFC 4034) in canonical order, no
// RRSIG on delegation NS or glue (RFC 4035 §2.2), and the signed zone
// head. RRSIGs and NSEC/NSEC3 records already in z are dropped first, so a
// signed zone can be signed again. The serial is left as it is. Sign
// signs on all CPUs; z is not modified.
func Sign(z *Zone, k *Key, opt SignOptions) (*Zone, error) {
	if err := checkSigner(k, z.Origin, opt); err != nil {
		return nil, err
	}
	sets := make([]*RRset, 0, z.Len()*2)
	for _, s := range z.RRsets() {
		if isDNSSECType(s.Type) {
			continue
		}
		c := *s
		c.SetSignatures(nil)
		sets = append(sets, &c)
	}
	sets, _ = withOwnerKey(z.Origin, sets, z.SOA(), k)
	return assemble(z.Origin, sets, k, opt, nil)
}

// withOwnerKey makes sure the apex DNSKEY RRset holds k, adding the RRset
// or a copy of it with k when needed. It reports whether it changed sets.
func withOwnerKey(origin string, sets []*RRset, soa *dns.SOA, k *Key) ([]*RRset, bool) {
	for i, s := range sets {
		if s.Name != origin || s.Type != dns.TypeDNSKEY {
			continue
		}
		for _, rr := range s.Records() {
			if SameKey(rr.(*dns.DNSKEY), k.DNSKEY) {
				return sets, false
			}
		}
		c := s.Clone()
		c.AddRecord(keyRR(k, s.TTL))
		sets[i] = c
		return sets, true
	}
	ttl := soa.Minttl
	if ttl == 0 {
		ttl = defaultKeyTTL
	}
	return append(sets, NewRRset(origin, dns.TypeDNSKEY, ttl, []dns.RR{keyRR(k, ttl)}, nil)), true
}

func keyRR(k *Key, ttl uint32) *dns.DNSKEY {
	dk := dns.Copy(k.DNSKEY).(*dns.DNSKEY)
	dk.Hdr.Name = k.Zone
	dk.Hdr.Ttl = ttl
	return dk
}

// assemble builds the signed Zone from unsigned RRsets (no NSEC, the
// owner key in place), taking ownership of sets: it adds the NSEC chain,
// gives every RRset that must be signed either the signatures reuse
// returns for it (Apply carries unchanged ones over) or fresh ones, and
// adds the head.
func assemble(origin string, sets []*RRset, k *Key, opt SignOptions, reuse func(*RRset) []*dns.RRSIG) (*Zone, error) {
	z := build(origin, sets)
	links := chain(z)
	addNSEC(z, links)
	var jobs []*RRset
	for _, l := range links {
		for _, s := range l.node.RRsets {
			if !signs(l.st, s.Type) {
				continue
			}
			if reuse != nil {
				if sigs := reuse(s); sigs != nil {
					s.SetSignatures(sigs)
					continue
				}
			}
			jobs = append(jobs, s)
		}
	}
	if err := signAll(jobs, k, opt); err != nil {
		return nil, err
	}
	h, err := NewHead(z, k, opt.headTime())
	if err != nil {
		return nil, fmt.Errorf("sign zone head: %w", err)
	}
	z.Head = h
	if err := z.packAll(); err != nil {
		return nil, err
	}
	return z, nil
}

// signAll signs each RRset in jobs, replacing its Sigs, on all CPUs.
func signAll(jobs []*RRset, k *Key, opt SignOptions) error {
	tmpl := dns.RRSIG{
		Hdr:        dns.RR_Header{Rrtype: dns.TypeRRSIG, Class: dns.ClassINET},
		Algorithm:  dns.ED25519,
		Inception:  uint32(opt.Inception.Unix()),
		Expiration: uint32(opt.Expiration.Unix()),
		KeyTag:     k.Tag(),
		SignerName: k.Zone,
	}
	errs := make([]error, len(jobs))
	parallel(len(jobs), func(i int) { errs[i] = signRRset(jobs[i], &tmpl, k) })
	return errors.Join(errs...)
}

// parallel calls f(0) ... f(n-1) on all CPUs and waits for them.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64+1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func signRRset(s *RRset, tmpl *dns.RRSIG, k *Key) error {
	sig := *tmpl
	sig.Hdr.Name = s.Name
	sig.Hdr.Ttl = s.TTL
	sig.OrigTtl = s.TTL
	if err := sig.Sign(k.Private, s.Records()); err != nil {
		return &RecordError{Name: s.Name, Type: s.Type, Err: fmt.Errorf("sign: %w", err)}
	}
	s.SetSignatures([]*dns.RRSIG{&sig})
	return nil
}

// NeedsRefresh reports whether z must be signed again before now+margin:
// it is unsigned, or one of its RRSIGs expires before then. The owner's
// tools call it on a timer to keep a zone valid while it is served.
func NeedsRefresh(z *Zone, now time.Time, margin time.Duration) bool {
	soa := z.Apex().RRset(dns.TypeSOA)
	if soa.NumSignatures() == 0 {
		return true
	}
	deadline := now.Add(margin)
	for _, s := range z.RRsets() {
		for _, sig := range s.Signatures() {
			if sigTime(sig.Expiration, now).Before(deadline) {
				return true
			}
		}
	}
	return false
}

// EarliestExpiry returns when the first of z's RRSIGs expires, read
// against now (serial arithmetic, like validators), and false when z has
// no RRSIG. Past it, validating resolvers answer SERVFAIL for that RRset:
// the owner's tools must have re-signed by then.
func EarliestExpiry(z *Zone, now time.Time) (time.Time, bool) {
	var first time.Time
	found := false
	for _, s := range z.RRsets() {
		for _, sig := range s.Signatures() {
			if t := sigTime(sig.Expiration, now); !found || t.Before(first) {
				first, found = t, true
			}
		}
	}
	return first, found
}

// sigTime turns an RRSIG timestamp, a 32-bit count of seconds read with
// serial number arithmetic (RFC 4034 §3.1.5, RFC 1982), into the time
// within 68 years of ref that it names.
func sigTime(v uint32, ref time.Time) time.Time {
	d := int64(int32(v - uint32(ref.Unix())))
	return time.Unix(ref.Unix()+d, 0)
}
