package zone

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// RefreshMargin is how long before the first RRSIG expires a stored zone is
// re-signed by Prepare (a third of DefaultSignOptions' 30-day window).
const RefreshMargin = 10 * 24 * time.Hour

// Action says what Prepare did.
type Action uint8

// The outcomes of Prepare.
const (
	Unchanged Action = iota // stored zone is current; nothing to publish
	Signed                  // first signing, or the key changed: signed whole
	Updated                 // content changed: re-signed incrementally
	Refreshed               // signatures near expiry: re-signed whole
)

func (a Action) String() string {
	switch a {
	case Unchanged:
		return "unchanged"
	case Signed:
		return "signed"
	case Updated:
		return "updated"
	case Refreshed:
		return "re-signed"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Prepare is the owner's side of publishing (`ddnrs zone publish`, `ddnrs
// dev`, the benchmarks' owners): given the owner's unsigned
// zone u, its key k and what is stored (nil when nothing), it returns the
// signed zone to publish and what it did.
//
//   - Nothing stored, or stored under another key: sign u whole, with a
//     serial above the stored one.
//   - Content differs from stored: Diff and Apply re-sign only the
//     changed RRsets; the serial goes above the stored one.
//   - Same content but a serial in u above the stored one: sign whole.
//   - Same content, signatures expiring within RefreshMargin: sign whole
//     again with the serial bumped.
//   - Otherwise: stored, Unchanged.
//
// The serial in u's SOA counts only when it is above the stored one. Prepare
// is pure: now is the signing clock.
func Prepare(stored, u *Zone, k *Key, now time.Time) (*Zone, Action, error) {
	return PrepareWith(stored, u, k, PrepareOptions{Sign: DefaultSignOptions(now), Margin: RefreshMargin})
}

// PrepareOptions are Prepare's signing window and refresh margin, for
// tools that sign with another validity (`ddnrs zone keep-signed
// --validity`).
type PrepareOptions struct {
	Sign   SignOptions   // the window new signatures get; Sign.Now is the clock
	Margin time.Duration // re-sign when a signature expires within it
}

// PrepareWith is Prepare with the signing window and refresh margin in o.
func PrepareWith(stored, u *Zone, k *Key, o PrepareOptions) (*Zone, Action, error) {
	opt, now := o.Sign, o.Sign.Now
	if stored == nil {
		z, err := Sign(u, k, opt)
		return z, Signed, err
	}
	if !hasKey(stored, k) {
		u, err := withSerial(u, nextSerial(stored.Serial(), u.Serial()))
		if err != nil {
			return nil, 0, err
		}
		z, err := Sign(u, k, opt)
		return z, Signed, err
	}
	// Diff leaves the serial out of the comparison: the owner's file need
	// not bump it, and ours went up with every change.
	if c := Diff(stored, u); !c.Empty() {
		z, err := stored.Apply(c, k, opt)
		if err != nil {
			return nil, 0, err
		}
		if want := nextSerial(stored.Serial(), u.Serial()); z.Serial() != want && SerialAbove(want, z.Serial()) {
			// The owner's file asks for a higher serial than Apply's +1:
			// sign whole at that serial instead.
			u, err := withSerial(u, want)
			if err != nil {
				return nil, 0, err
			}
			z, err = Sign(u, k, opt)
			if err != nil {
				return nil, 0, err
			}
		}
		return z, Updated, nil
	}
	if SerialAbove(u.Serial(), stored.Serial()) {
		// Same content, but the owner raised the serial: publish it.
		z, err := Sign(u, k, opt)
		return z, Updated, err
	}
	if NeedsRefresh(stored, now, o.Margin) {
		u, err := withSerial(u, nextSerial(stored.Serial(), u.Serial()))
		if err != nil {
			return nil, 0, err
		}
		z, err := Sign(u, k, opt)
		return z, Refreshed, err
	}
	return stored, Unchanged, nil
}

// nextSerial returns the file's serial when it is above the stored one,
// else stored+1 (RFC 1982 arithmetic).
func nextSerial(stored, file uint32) uint32 {
	if SerialAbove(file, stored) {
		return file
	}
	return stored + 1
}

// DateSerial returns the next serial in the date-based convention
// (YYYYMMDDnn, RFC 1912 §2.2) for a zone whose group holds stored: today's
// first serial (now in UTC, nn = 00) when it is above stored, else
// stored+1 (a second change the same day, or a stored serial that is not
// a date).
func DateSerial(stored uint32, now time.Time) uint32 {
	y, m, d := now.UTC().Date()
	today := uint32(y)*1000000 + uint32(m)*10000 + uint32(d)*100
	if SerialAbove(today, stored) {
		return today
	}
	return stored + 1
}

// WithSerial returns u with its apex SOA serial set to serial (u itself
// when it has that serial already).
func WithSerial(u *Zone, serial uint32) (*Zone, error) { return withSerial(u, serial) }

// withSerial returns u with its SOA serial set to serial.
func withSerial(u *Zone, serial uint32) (*Zone, error) {
	if u.Serial() == serial {
		return u, nil
	}
	rrs := u.Records()
	for i, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok && soa.Hdr.Name == u.Origin {
			c := dns.Copy(soa).(*dns.SOA)
			c.Serial = serial
			rrs[i] = c
		}
	}
	return New(u.Origin, rrs)
}
