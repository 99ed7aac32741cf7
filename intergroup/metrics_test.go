package intergroup

import (
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// TestRefusalReason: every cause VerifyAnswer gives maps to its reason
// label and EDE code, wrapped or not.
func TestRefusalReason(t *testing.T) {
	cases := []struct {
		err    error
		reason string
		ede    uint16
	}{
		{&client.VerifyError{Err: client.ErrNoTrustAnchor}, "no_trust_anchor", dns.ExtendedErrorCodeDNSKEYMissing},
		{&client.VerifyError{Err: fmt.Errorf("%w: 1 < 2", client.ErrStaleSerial)}, "stale_serial", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: client.ErrExpired}, "expired", dns.ExtendedErrorCodeSignatureExpired},
		{&client.VerifyError{Err: zone.ErrSignatureWindow}, "expired", dns.ExtendedErrorCodeSignatureExpired},
		{&client.VerifyError{Err: errors.Join(client.ErrNotAnswer, client.ErrNSECMissing)}, "nsec_missing", dns.ExtendedErrorCodeNSECMissing},
		{&client.VerifyError{Err: zone.ErrBadSignature}, "bad_signature", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: zone.ErrNotIncluded}, "bad_proof", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: zone.ErrWrongZone}, "wrong_zone", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: fmt.Errorf("%w: question differs", client.ErrNotAnswer)}, "not_answer", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: client.ErrBadResponse}, "malformed", dns.ExtendedErrorCodeDNSBogus},
		{&client.VerifyError{Err: errors.New("something new")}, "other", dns.ExtendedErrorCodeDNSBogus},
		{errors.New("not a client.VerifyError"), "other", dns.ExtendedErrorCodeDNSBogus},
	}
	for _, c := range cases {
		reason, ede := refusalReason(c.err)
		if reason != c.reason || ede != c.ede {
			t.Errorf("refusalReason(%v) = %q, %d; want %q, %d", c.err, reason, ede, c.reason, c.ede)
		}
	}
}
