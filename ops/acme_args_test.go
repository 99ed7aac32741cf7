package ops

import (
	"strings"
	"testing"
)

// A DNS-01 token is base64url and begins with '-' about once in 64
// challenges; lego calls the hook as "present FQDN VALUE", so the value
// must reach the hook as an argument, never be parsed as a flag. (Found
// when integration TestACMELegoPebble drew the token "-4qWr5l…".) The
// runs below have no API to reach: what is checked is that the arguments
// were read as FQDN and VALUE and the command got as far as needing an
// API, not how it fails there.
func TestACMEValueStartingWithDash(t *testing.T) {
	for _, verb := range []string{"present", "cleanup"} {
		t.Run(verb, func(t *testing.T) {
			t.Setenv(envAPI, "")
			t.Setenv(envAPIKey, "")
			t.Setenv(envAPIKeyFile, "")
			t.Setenv("DDNRS_ACME_KEY", "")
			r := ddnrs(t, "acme", verb, "--wait", "0", "_acme-challenge.example.org.", "-4qWr5lvejgV_4rHNWfQ5HwowJvh2f8C0QtHcDpaZG0")
			if r.code == ExitOK {
				t.Fatalf("exit 0 with no API configured")
			}
			if strings.Contains(r.stderr, "unknown shorthand flag") || strings.Contains(r.stderr, "unknown flag") || strings.Contains(r.stderr, "challenge value") {
				t.Errorf("the value was not taken as VALUE: %s", r.stderr)
			}
		})
	}
}

// A flag after FQDN VALUE is not read as a flag (values may begin with
// '-'); the error says where flags go instead of "accepts at most 2 args".
func TestACMEFlagAfterValue(t *testing.T) {
	r := ddnrs(t, "acme", "present", "_acme-challenge.example.org.", "tok", "--wait", "0")
	if r.code == ExitOK || !strings.Contains(r.stderr, "flags go before FQDN") {
		t.Errorf("flag after VALUE: exit %d, stderr %q; want the hint that flags go before FQDN", r.code, r.stderr)
	}
	r = ddnrs(t, "acme", "cleanup", "a.example.", "tok", "extra")
	if r.code == ExitOK || !strings.Contains(r.stderr, "3 arguments") {
		t.Errorf("three arguments: exit %d, stderr %q", r.code, r.stderr)
	}
}
