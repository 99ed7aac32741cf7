package zone

import (
	"bytes"
	"crypto/ed25519"

	"github.com/miekg/dns"
)

// Key is a zone owner's Ed25519 key: the public half as the DNSKEY that
// sits at the zone apex (algorithm 15, RFC 8080), and the private half,
// which only the owner's tools hold. A Key read from a .key file alone has
// a nil Private and can verify but not sign.
type Key struct {
	Zone    string      // canonical zone name the key belongs to
	DNSKEY  *dns.DNSKEY // owner name Zone, algorithm 15, flags 257 (CSK) or 256
	Private ed25519.PrivateKey
}

// Tag returns the key tag (RFC 4034 Appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// Public returns the raw Ed25519 public key.
func (k *Key) Public() ed25519.PublicKey {
	return ed25519.PublicKey(mustBase64(k.DNSKEY.PublicKey))
}

// SameKey reports whether a and b are the same DNSSEC key: the same flags,
// protocol and algorithm, and the same public key bytes (compared decoded,
// not as base64 text). Flags and protocol belong to the key
// because they enter the key tag every RRSIG names: a key with another SEP
// bit does not verify the same signatures. A nil key, or one whose public
// key is not base64, is the same as no key.
//
// This is the one key-equality rule of DDNRS: the state machine, the
// registry's claims, a node's rotation tracking, the owner's tools and the
// answer verifier all compare owner keys with it (docs/architecture.md,
// "Data model").
func SameKey(a, b *dns.DNSKEY) bool {
	if a == nil || b == nil || a.Flags != b.Flags || a.Protocol != b.Protocol || a.Algorithm != b.Algorithm {
		return false
	}
	pa, pb := mustBase64(a.PublicKey), mustBase64(b.PublicKey)
	return len(pa) > 0 && bytes.Equal(pa, pb)
}
