package pki

import (
	"crypto"
	"net"
	"testing"
	"time"
)

// FuzzParseRekey: a renewal body from the network is refused unless both
// signatures verify; an accepted one names a key other than the current
// certificate's.
func FuzzParseRekey(f *testing.F) {
	ca, err := NewCA("cluster")
	if err != nil {
		f.Fatal(err)
	}
	cur, err := IssueScoped(ca, "eu-1", Scope{Role: RoleMember, Group: "eu"}, IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	_, b, err := NewRekey(cur.Cert, cur.Key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n-----BEGIN DDNRS RENEWAL SIGNATURE-----\nMAA=\n-----END DDNRS RENEWAL SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := ParseRekey(b, cur.Cert)
		if err != nil {
			return
		}
		if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || k.Equal(cur.Cert.PublicKey) {
			t.Fatalf("accepted the current key or an unusable one: %T", pub)
		}
	})
}
