package translog

import (
	"errors"
	"testing"
)

// A cert-revocation entry names exactly one serial, in the one form
// revocations write; anything else is malformed.
func TestCertRevocationSerial(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"serial=5f3a9c01d2"}, "5f3a9c01d2"},
		{[]string{"serial=1"}, "1"},
		{[]string{"serial=" + "f123456789abcdef0123456789abcdef01234567"}, "f123456789abcdef0123456789abcdef01234567"},
		{nil, ""},
		{[]string{"serial=5f", "serial=6f"}, ""},
		{[]string{"serial="}, ""},
		{[]string{"serial=0"}, ""},
		{[]string{"serial=05f"}, ""},
		{[]string{"serial=5F"}, ""},
		{[]string{"serial=5g"}, ""},
		{[]string{"serial=" + "f123456789abcdef0123456789abcdef012345678"}, ""},
		{[]string{"peer=5f"}, ""},
	} {
		e := Entry{Kind: KindCertRevocation, Time: t0, NodeAddrs: tc.addrs}
		got, err := RevokedSerial(e)
		_, merr := e.MarshalBinary()
		if tc.want == "" {
			if err == nil || !errors.Is(merr, ErrMalformedEntry) {
				t.Errorf("RevokedSerial(%q) = %q, %v (marshal %v); want ErrMalformedEntry", tc.addrs, got, err, merr)
			}
			continue
		}
		if err != nil || got != tc.want || merr != nil {
			t.Errorf("RevokedSerial(%q) = %q, %v (marshal %v); want %q", tc.addrs, got, err, merr, tc.want)
		}
	}
	if _, err := RevokedSerial(Entry{Kind: KindNodeAdmission, NodeAddrs: []string{"serial=5f"}}); err == nil {
		t.Error("RevokedSerial of a node admission = nil error")
	}
}
