package zone

import (
	"testing"

	"github.com/miekg/dns"
)

func TestSameKey(t *testing.T) {
	k, err := GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(dk *dns.DNSKEY)) *dns.DNSKEY {
		dk := dns.Copy(k.DNSKEY).(*dns.DNSKEY)
		f(dk)
		return dk
	}
	pub := k.DNSKEY.PublicKey
	tests := []struct {
		name string
		a, b *dns.DNSKEY
		want bool
	}{
		{"itself", k.DNSKEY, k.DNSKEY, true},
		{"a copy with another owner name and TTL", k.DNSKEY, with(func(dk *dns.DNSKEY) { dk.Hdr.Name = "other."; dk.Hdr.Ttl = 7 }), true},
		{"base64 split across lines", k.DNSKEY, with(func(dk *dns.DNSKEY) { dk.PublicKey = pub[:8] + "\n" + pub[8:] }), true},
		{"another key", k.DNSKEY, other.DNSKEY, false},
		{"another SEP bit", k.DNSKEY, with(func(dk *dns.DNSKEY) { dk.Flags ^= dns.SEP }), false},
		{"another protocol", k.DNSKEY, with(func(dk *dns.DNSKEY) { dk.Protocol = 2 }), false},
		{"another algorithm", k.DNSKEY, with(func(dk *dns.DNSKEY) { dk.Algorithm = dns.ECDSAP256SHA256 }), false},
		{"nil", k.DNSKEY, nil, false},
		{"both nil", nil, nil, false},
		{"both not base64", with(func(dk *dns.DNSKEY) { dk.PublicKey = "!!" }), with(func(dk *dns.DNSKEY) { dk.PublicKey = "!!" }), false},
	}
	for _, tt := range tests {
		if got := SameKey(tt.a, tt.b); got != tt.want {
			t.Errorf("SameKey(%s) = %v, want %v", tt.name, got, tt.want)
		}
		if got := SameKey(tt.b, tt.a); got != tt.want {
			t.Errorf("SameKey(%s, swapped) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
