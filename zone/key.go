package zone

import (
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
