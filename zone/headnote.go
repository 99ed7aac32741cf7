package zone

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/mod/sumdb/note"
)

// headMagic is the first line of a signed zone head's text. A head with
// another first line is not one this code can read.
const headMagic = "ddnrs-szh/v1"

// NewHead makes the signed zone head of z: a signed note whose text is
//
//	ddnrs-szh/v1
//	<zone, canonical presentation form>
//	<SOA serial, decimal>
//	<leaf count, decimal>
//	<root, standard base64 with padding>
//	<t in Unix seconds, decimal>
//
// (every line ending in "\n"), signed by k as a signed-note Ed25519
// signature whose key name is the zone name (see noteName) and whose key
// hash is the standard note key hash of that name and k's public key. So a
// stock note verifier built with note.NewEd25519VerifierKey(noteName(zone),
// pub) accepts it. t is truncated to the second.
//
// NewHead is pure; the caller passes the clock. It returns ErrKeyZone
// when k belongs to another zone and ErrNoPrivateKey when k cannot sign.
func NewHead(z *Zone, k *Key, t time.Time) (*Head, error) {
	if CanonicalName(k.Zone) != z.Origin {
		return nil, fmt.Errorf("%w: key for %s, zone %s", ErrKeyZone, k.Zone, z.Origin)
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, ErrNoPrivateKey
	}
	tree := z.Tree()
	h := &Head{
		Zone:   z.Origin,
		Serial: z.Serial(),
		Size:   tree.Size(),
		Root:   tree.Root(),
		Time:   time.Unix(t.Unix(), 0).UTC(),
	}
	signer, err := newNoteSigner(z.Origin, k.Private)
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: h.text()}, signer)
	if err != nil {
		return nil, fmt.Errorf("signing head: %w", err)
	}
	h.Note = msg
	return h, nil
}

// text returns the note text of h.
func (h *Head) text() string {
	return fmt.Sprintf("%s\n%s\n%d\n%d\n%s\n%d\n", headMagic, h.Zone, h.Serial, h.Size,
		base64.StdEncoding.EncodeToString(h.Root[:]), h.Time.Unix())
}

// ParseHead verifies that msg is a signed zone head signed by k and returns
// it. It returns ErrBadHead when msg is not a well-formed signed note or
// its text is not a head, ErrBadSignature when no valid signature by k is
// on it (another key of the same zone, a tampered text or signature), and
// ErrWrongZone when it is signed for, or names, a zone other than k's.
// Signatures by other keys beside k's are ignored. A k that is not an
// Ed25519 key of its own zone gives ErrKeyAlgorithm or ErrKeyZone.
//
// ParseHead does not judge freshness: the caller compares Serial with the
// highest serial it has verified for the zone (rollback protection) and
// Time with its clock.
func ParseHead(msg []byte, k *Key) (*Head, error) {
	text, origin, err := openOwnerNote(msg, k, "head")
	if err != nil {
		return nil, err
	}
	h, err := parseHeadText(text)
	if err != nil {
		return nil, err
	}
	if h.Zone != origin {
		return nil, fmt.Errorf("%w: head names %s, key is for %s", ErrWrongZone, h.Zone, origin)
	}
	h.Note = bytes.Clone(msg)
	return h, nil
}

// openOwnerNote verifies that msg is a signed note signed by owner key k
// (the note's key name is k's zone) and returns its text and k's zone,
// with ParseHead's errors; what names the note in them ("head").
func openOwnerNote(msg []byte, k *Key, what string) (text, origin string, err error) {
	if k == nil || k.DNSKEY == nil {
		return "", "", fmt.Errorf("%w: no key", ErrBadSignature)
	}
	origin = CanonicalName(k.Zone)
	if k.DNSKEY.Algorithm != dns.ED25519 {
		return "", "", fmt.Errorf("%w: algorithm %d", ErrKeyAlgorithm, k.DNSKEY.Algorithm)
	}
	if CanonicalName(k.DNSKEY.Hdr.Name) != origin {
		return "", "", fmt.Errorf("%w: DNSKEY owner %s, key zone %s", ErrKeyZone, k.DNSKEY.Hdr.Name, origin)
	}
	v, err := newNoteVerifier(origin, k.Public())
	if err != nil {
		return "", "", err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			for _, s := range unverified.Note.UnverifiedSigs {
				if s.Name == v.Name() {
					return "", "", fmt.Errorf("%w: %s signed by another key of %s (key hash %08x)", ErrBadSignature, what, origin, s.Hash)
				}
			}
			if len(unverified.Note.UnverifiedSigs) > 0 {
				return "", "", fmt.Errorf("%w: %s signed for %s, want %s", ErrWrongZone, what, unverified.Note.UnverifiedSigs[0].Name, v.Name())
			}
			return "", "", fmt.Errorf("%w: %v", ErrBadSignature, err)
		case errors.As(err, &invalid):
			return "", "", fmt.Errorf("%w: %v", ErrBadSignature, err)
		default:
			return "", "", fmt.Errorf("%w: %v", ErrBadHead, err)
		}
	}
	return n.Text, origin, nil
}

// parseHeadText parses a head's note text, strictly: exactly the six
// lines NewHead writes, decimal numbers without signs or leading zeros.
func parseHeadText(text string) (*Head, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 7 || lines[6] != "" {
		return nil, fmt.Errorf("%w: want 6 lines, got %d", ErrBadHead, len(lines)-1)
	}
	if lines[0] != headMagic {
		return nil, fmt.Errorf("%w: first line %q, want %q", ErrBadHead, lines[0], headMagic)
	}
	h := &Head{Zone: lines[1]}
	if h.Zone == "" || CanonicalName(h.Zone) != h.Zone {
		return nil, fmt.Errorf("%w: zone %q is not a canonical name", ErrBadHead, h.Zone)
	}
	if _, ok := dns.IsDomainName(h.Zone); !ok {
		return nil, fmt.Errorf("%w: zone %q is not a domain name", ErrBadHead, h.Zone)
	}
	serial, err := parseDecimal(lines[2], 32)
	if err != nil {
		return nil, fmt.Errorf("%w: serial: %v", ErrBadHead, err)
	}
	h.Serial = uint32(serial)
	if h.Size, err = parseDecimal(lines[3], 64); err != nil {
		return nil, fmt.Errorf("%w: size: %v", ErrBadHead, err)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[4])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[4] {
		return nil, fmt.Errorf("%w: root %q is not 32 bytes of base64", ErrBadHead, lines[4])
	}
	h.Root = [32]byte(root)
	secs, err := parseDecimal(lines[5], 63)
	if err != nil {
		return nil, fmt.Errorf("%w: time: %v", ErrBadHead, err)
	}
	h.Time = time.Unix(int64(secs), 0).UTC()
	return h, nil
}

// parseDecimal parses an unsigned decimal of at most bits bits, in the one
// form NewHead writes it (no sign, no leading zeros).
func parseDecimal(s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, err
	}
	if strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("%q is not in canonical decimal form", s)
	}
	return v, nil
}

// noteName returns the signed-note key name for a zone: its canonical
// presentation form with '+' written as \043, since note names may not
// hold '+' (whitespace is already escaped in presentation form).
func noteName(zone string) string {
	return strings.ReplaceAll(zone, "+", `\043`)
}

// noteKeyHash is the signed-note key hash of an Ed25519 key (algorithm
// byte 1): the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ pub), as
// golang.org/x/mod/sumdb/note computes it.
func noteKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// noteSigner signs notes with an owner key. note.NewSigner wants the key
// as a "PRIVATE+KEY+..." string; building the Signer directly keeps the
// private key out of strings.
type noteSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func newNoteSigner(zone string, key ed25519.PrivateKey) (*noteSigner, error) {
	name := noteName(zone)
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return nil, ErrNoPrivateKey
	}
	return &noteSigner{name: name, hash: noteKeyHash(name, pub), key: key}, nil
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// newNoteVerifier returns the stock note verifier for a zone's key.
func newNoteVerifier(zone string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(noteName(zone), pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: key for %s: %v", ErrBadSignature, zone, err)
	}
	return v, nil
}
