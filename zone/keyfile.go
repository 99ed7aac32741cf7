package zone

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Errors returned when a key cannot be made, read or used.
var (
	// ErrKeyAlgorithm is returned when a key file holds a key of an
	// algorithm other than Ed25519 (15, RFC 8080); the error text names the
	// algorithm found.
	ErrKeyAlgorithm = errors.New("key algorithm is not ED25519 (15)")
	// ErrKeyMismatch is returned when the private key does not belong to
	// the public key it is read with.
	ErrKeyMismatch = errors.New("private key does not match the public key")
	// ErrKeyZone is returned when a key belongs to another zone than the
	// one it is used for.
	ErrKeyZone = errors.New("key is for another zone")
	// ErrKeyFormat is returned when a .key or .private file is malformed;
	// the error names the line.
	ErrKeyFormat = errors.New("malformed key file")
	// ErrNoPrivateKey is returned when signing is asked of a key read
	// without its private half.
	ErrNoPrivateKey = errors.New("key has no private half")
)

// KeyFileError says where in a key file a problem is. It wraps one of the
// errors above.
type KeyFileError struct {
	Part string // "public" for the .key text, "private" for the .private text
	Line int    // 1-based line number; 0 when the problem is not on one line
	Err  error
}

func (e *KeyFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s key file line %d: %v", e.Part, e.Line, e.Err)
	}
	return fmt.Sprintf("%s key file: %v", e.Part, e.Err)
}

func (e *KeyFileError) Unwrap() error { return e.Err }

const (
	flagZSK = 256 // ZONE bit (RFC 4034 §2.1.1)
	flagKSK = 257 // ZONE and SEP bits: a combined signing key when alone

	defaultKeyTTL = 3600
)

// GenerateKey makes a new Ed25519 owner key for zone, reading randomness
// from rand (crypto/rand.Reader in production, a fixed stream in tests).
// The DNSKEY has flags 257 (SEP, used as a combined signing key) when ksk
// is true, 256 otherwise.
func GenerateKey(zone string, ksk bool, rand io.Reader) (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	flags := uint16(flagZSK)
	if ksk {
		flags = flagKSK
	}
	zone = CanonicalName(zone)
	return &Key{
		Zone: zone,
		DNSKEY: &dns.DNSKEY{
			Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: defaultKeyTTL},
			Flags:     flags,
			Protocol:  3,
			Algorithm: dns.ED25519,
			PublicKey: base64.StdEncoding.EncodeToString(pub),
		},
		Private: priv,
	}, nil
}

// FileBase returns the file name stem dnssec-keygen gives the key,
// "K<zone>+015+<tag>" with the zone's trailing dot kept
// (Kexample.+015+01234); add ".key" and ".private".
func (k *Key) FileBase() string {
	return fmt.Sprintf("K%s+%03d+%05d", k.Zone, k.DNSKEY.Algorithm, k.Tag())
}

// MarshalPublic returns the key as BIND writes a .key file: a comment
// line and the DNSKEY record.
func (k *Key) MarshalPublic() []byte {
	kind := "zone-signing"
	if k.DNSKEY.Flags&dns.SEP != 0 {
		kind = "key-signing"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "; This is a %s key, keyid %d, for %s\n", kind, k.Tag(), k.Zone)
	fmt.Fprintf(&b, "%s IN DNSKEY %d %d %d %s\n", k.Zone, k.DNSKEY.Flags, k.DNSKEY.Protocol, k.DNSKEY.Algorithm, k.DNSKEY.PublicKey)
	return b.Bytes()
}

// MarshalPrivate returns the private half as BIND writes a .private file
// (Private-key-format v1.3, the 32-byte Ed25519 seed in base64), or nil
// when the key has no private half. The caller must store it readable by
// the owner only.
func (k *Key) MarshalPrivate() []byte {
	if k.Private == nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("Private-key-format: v1.3\n")
	b.WriteString("Algorithm: 15 (ED25519)\n")
	fmt.Fprintf(&b, "PrivateKey: %s\n", base64.StdEncoding.EncodeToString(k.Private.Seed()))
	return b.Bytes()
}

// ParseKey reads a key from the text of its .key file and, when priv is
// not nil, its .private file, as written by MarshalPublic/MarshalPrivate,
// BIND's dnssec-keygen or ldns-keygen. Errors wrap ErrKeyFormat (in a
// *KeyFileError naming the line), ErrKeyAlgorithm or ErrKeyMismatch.
func ParseKey(pub, priv []byte) (*Key, error) {
	dk, err := parsePublic(pub)
	if err != nil {
		return nil, err
	}
	k := &Key{Zone: CanonicalName(dk.Hdr.Name), DNSKEY: dk}
	k.DNSKEY.Hdr.Name = k.Zone
	if priv == nil {
		return k, nil
	}
	seed, err := parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	k.Private = ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(k.Private.Public().(ed25519.PublicKey), k.Public()) {
		return nil, fmt.Errorf("%w (key tag %d, zone %s)", ErrKeyMismatch, k.Tag(), k.Zone)
	}
	return k, nil
}

func parsePublic(pub []byte) (*dns.DNSKEY, error) {
	zp := dns.NewZoneParser(bytes.NewReader(pub), ".", "")
	zp.SetIncludeAllowed(false)
	var dk *dns.DNSKEY
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.DNSKEY)
		if !isKey {
			return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: found a %s record, want DNSKEY", ErrKeyFormat, dns.TypeToString[rr.Header().Rrtype])}
		}
		if dk != nil {
			return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: more than one DNSKEY record", ErrKeyFormat)}
		}
		dk = k
	}
	if err := zp.Err(); err != nil {
		return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: %w", ErrKeyFormat, err)}
	}
	if dk == nil {
		return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: no DNSKEY record", ErrKeyFormat)}
	}
	if dk.Algorithm != dns.ED25519 {
		return nil, fmt.Errorf("%w: found %s", ErrKeyAlgorithm, algorithmName(dk.Algorithm))
	}
	if dk.Protocol != 3 {
		return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: DNSKEY protocol %d, want 3", ErrKeyFormat, dk.Protocol)}
	}
	if dk.Flags&dns.ZONE == 0 {
		return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: DNSKEY flags %d lack the zone-key bit", ErrKeyFormat, dk.Flags)}
	}
	if raw, err := base64.StdEncoding.DecodeString(dk.PublicKey); err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, &KeyFileError{Part: "public", Err: fmt.Errorf("%w: public key is not %d base64 bytes", ErrKeyFormat, ed25519.PublicKeySize)}
	}
	return dk, nil
}

// parsePrivate reads a BIND Private-key-format v1.x file and returns the
// Ed25519 seed.
func parsePrivate(priv []byte) ([]byte, error) {
	bad := func(line int, format string, args ...any) error {
		return &KeyFileError{Part: "private", Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrKeyFormat}, args...)...)}
	}
	var seed []byte
	var sawFormat, sawAlg bool
	sc := bufio.NewScanner(bytes.NewReader(priv))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, ";") {
			continue
		}
		field, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, bad(line, "want \"Field: value\", got %q", truncate(text, 40))
		}
		value = strings.TrimSpace(value)
		switch field {
		case "Private-key-format":
			if !strings.HasPrefix(value, "v1.") {
				return nil, bad(line, "unsupported Private-key-format %q, want v1.x", value)
			}
			sawFormat = true
		case "Algorithm":
			num, _, _ := strings.Cut(value, " ")
			alg, err := strconv.ParseUint(num, 10, 8)
			if err != nil {
				return nil, bad(line, "algorithm %q is not a number", value)
			}
			if uint8(alg) != dns.ED25519 {
				return nil, fmt.Errorf("%w: found %s", ErrKeyAlgorithm, algorithmName(uint8(alg)))
			}
			sawAlg = true
		case "PrivateKey":
			raw, err := base64.StdEncoding.DecodeString(value)
			if err != nil || len(raw) != ed25519.SeedSize {
				return nil, bad(line, "PrivateKey is not %d base64 bytes", ed25519.SeedSize)
			}
			seed = raw
		}
	}
	if err := sc.Err(); err != nil {
		return nil, bad(line+1, "%v", err)
	}
	switch {
	case !sawFormat:
		return nil, bad(0, "no Private-key-format line")
	case !sawAlg:
		return nil, bad(0, "no Algorithm line")
	case seed == nil:
		return nil, bad(0, "no PrivateKey line")
	}
	return seed, nil
}

func algorithmName(alg uint8) string {
	if name, ok := dns.AlgorithmToString[alg]; ok {
		return fmt.Sprintf("algorithm %d (%s)", alg, name)
	}
	return fmt.Sprintf("algorithm %d", alg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CheckZone returns an error wrapping ErrKeyZone when k is not a key of
// the zone origin.
func (k *Key) CheckZone(origin string) error {
	if origin = CanonicalName(origin); k.Zone != origin {
		return fmt.Errorf("%w: key %s is for %s, not %s", ErrKeyZone, k.FileBase(), k.Zone, origin)
	}
	return nil
}
