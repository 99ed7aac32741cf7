package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// TestVerifyDNSSEC: a plain DNS response verifies against the owner's
// key when every RRset carries a valid RRSIG and it answers the
// question; a changed record, a stripped signature, another key, a
// denial of a name that exists, or a clock past the signatures are
// refused with the error that says so.
func TestVerifyDNSSEC(t *testing.T) {
	z, key := exampleZone()
	other, _ := exampleZone() // same names, another key
	pinned := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}
	www := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("www.example.", dns.TypeA)
		m.Response, m.Authoritative = true, true
		m.Answer = withSigs(z.Node("www.example.").RRset(dns.TypeA))
		return m
	}
	nx := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Response, m.Authoritative, m.Rcode = true, true, dns.RcodeNameError
		m.Ns = append(withSigs(z.Apex().RRset(dns.TypeSOA)), withSigs(z.Predecessor(name).RRset(dns.TypeNSEC))...)
		return m
	}
	later := func() time.Time { return time.Now().Add(90 * 24 * time.Hour) }
	tests := []struct {
		desc    string
		name    string
		msg     func() *dns.Msg
		anchors client.Anchors
		now     func() time.Time
		want    error
	}{
		{"genuine answer", "www.example.", www, pinned, nil, nil},
		{"genuine denial", "nope.example.", func() *dns.Msg { return nx("nope.example.") }, pinned, nil, nil},
		{"changed address", "www.example.", func() *dns.Msg {
			m := www()
			a := dns.Copy(m.Answer[0]).(*dns.A)
			a.A = []byte{203, 0, 113, 66}
			m.Answer[0] = a
			return m
		}, pinned, nil, zone.ErrBadSignature},
		{"signature stripped", "www.example.", func() *dns.Msg { m := www(); m.Answer = m.Answer[:1]; return m }, pinned, nil, zone.ErrUnsigned},
		{"another owner's key", "www.example.", www, client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: other.Apex().RRset(dns.TypeDNSKEY).First().(*dns.DNSKEY)}}, nil, zone.ErrBadSignature},
		{"no anchor", "www.example.", www, client.Anchors{"other.": &zone.Key{Zone: "other.", DNSKEY: key.DNSKEY}}, nil, client.ErrNoTrustAnchor},
		{"denial of a name that exists", "www.example.", func() *dns.Msg {
			m := nx("nope.example.")
			m.Question[0].Name = "www.example."
			return m
		}, pinned, nil, client.ErrNSECMissing},
		{"question differs", "ns1.example.", www, pinned, nil, client.ErrNotAnswer},
		{"signatures expired", "www.example.", www, pinned, later, client.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			v := client.NewVerifier(tt.anchors, tt.now)
			got, err := v.VerifyDNSSEC(tt.name, dns.TypeA, tt.msg())
			if tt.want == nil {
				if err != nil || got.Zone != "example." || got.TTL <= 0 {
					t.Errorf("VerifyDNSSEC(%s) = %+v, %v; want verified for example.", tt.name, got, err)
				}
				return
			}
			var ve *client.VerifyError
			if !errors.Is(err, tt.want) || !errors.As(err, &ve) {
				t.Errorf("VerifyDNSSEC(%s) = %v, want a *VerifyError wrapping %v", tt.name, err, tt.want)
			}
		})
	}
}
