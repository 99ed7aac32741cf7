package dnsfront

// suspend.go: zones suspended by the registry. A query for a name in a
// suspended zone gets REFUSED with an Extended DNS Error 15 (Blocked,
// RFC 8914 §4.16) saying which zone and why, whether the zone is held
// here or by another group: the check comes before both the local
// lookup and the OtherGroups.

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// Suspensions says whether a name lies in a suspended zone. Suspended
// is called on the query path of every transport, from many goroutines
// at once: it must not block and should not allocate.
type Suspensions interface {
	// Suspended returns the suspended zone enclosing name (canonical:
	// lower-case, fully qualified) and the reason given, or ok=false.
	Suspended(name string) (origin, reason string, ok bool)
}

// SuspendSet is a Suspensions whose reads are lock-free: the set is an
// immutable map swapped whole by Set. The zero value is empty and ready.
type SuspendSet struct {
	m atomic.Pointer[map[string]string] // canonical origin -> reason
}

// Set replaces the set with zones (canonical origin -> reason). The map
// is copied; the caller may keep changing its own.
func (s *SuspendSet) Set(zones map[string]string) {
	m := make(map[string]string, len(zones))
	for k, v := range zones {
		m[k] = v
	}
	s.m.Store(&m)
}

// Len returns how many zones are suspended.
func (s *SuspendSet) Len() int {
	if p := s.m.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// Suspended implements Suspensions: it walks name's suffixes, longest
// first, only when the set is not empty.
func (s *SuspendSet) Suspended(name string) (origin, reason string, ok bool) {
	p := s.m.Load()
	if p == nil || len(*p) == 0 {
		return "", "", false
	}
	m := *p
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if r, ok := m[name[off:]]; ok {
			return name[off:], r, true
		}
	}
	if r, ok := m["."]; ok && name != "." {
		return ".", r, true
	}
	return "", "", false
}

// SuspendedText is the EDE extra text for a suspended zone.
func SuspendedText(origin, reason string) string {
	return "zone " + origin + " suspended: " + reason
}

// suspended answers q with REFUSED and EDE Blocked when its name lies in
// a suspended zone, and reports whether it did. respond calls it before
// the lookup, so a suspended zone is refused here and from other groups alike.
func (h *Handler) suspended(q *request, resp *dns.Msg, sc *scratch) bool {
	if h.susp == nil {
		return false
	}
	origin, reason, ok := h.susp.Suspended(q.name)
	if !ok {
		return false
	}
	resp.Rcode = dns.RcodeRefused
	if q.edns && len(resp.Extra) > 0 && resp.Extra[len(resp.Extra)-1] == dns.RR(&sc.opt) {
		text := SuspendedText(origin, reason)
		if len(text) > 512 {
			text = text[:512]
		}
		sc.opt.Option = append(sc.opt.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: text})
		sc.optLen = 4 + 2 + len(text)
	}
	return true
}
