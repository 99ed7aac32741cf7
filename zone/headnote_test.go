package zone

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/mod/sumdb/note"
)

func TestHeadRoundTrip(t *testing.T) {
	z, k := mkTestZone(t)
	h := z.Head
	got, err := ParseHead(h.Note, k)
	if err != nil {
		t.Fatalf("ParseHead(NewHead(...)) = %v", err)
	}
	if got.Zone != "example." || got.Serial != 2025010101 || got.Size != z.Tree().Size() ||
		got.Root != z.Tree().Root() || !got.Time.Equal(mkHeadTime) || !bytes.Equal(got.Note, h.Note) {
		t.Errorf("ParseHead = %+v, want %+v", got, h)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("ParseHead time zone = %v, want UTC", got.Time.Location())
	}
}

// TestHeadStockVerifier: a plain signed-note verifier, built from the
// zone name and the raw public key, accepts the head; other-language SDKs
// can use their signed-note library.
func TestHeadStockVerifier(t *testing.T) {
	z, k := mkTestZone(t)
	vkey, err := note.NewEd25519VerifierKey("example.", k.Public())
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(z.Head.Note, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open(head) = %v", err)
	}
	if !strings.HasPrefix(n.Text, "ddnrs-szh/v1\nexample.\n2025010101\n") {
		t.Errorf("head text = %q", n.Text)
	}
}

func TestHeadTimeTruncated(t *testing.T) {
	z, k := mkTestZone(t)
	h, err := NewHead(z, k, mkHeadTime.Add(999*time.Millisecond).In(time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Time.Equal(mkHeadTime) || h.Time.Location() != time.UTC {
		t.Errorf("NewHead time = %v, want %v", h.Time, mkHeadTime)
	}
}

func TestNewHeadErrors(t *testing.T) {
	z, k := mkTestZone(t)
	other := mkKey(t, "example.net.", 2)
	public := &Key{Zone: k.Zone, DNSKEY: k.DNSKEY}
	tests := []struct {
		name string
		key  *Key
		want error
	}{
		{"key of another zone", other, ErrKeyZone},
		{"public half only", public, ErrNoPrivateKey},
	}
	for _, tt := range tests {
		if _, err := NewHead(z, tt.key, mkHeadTime); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewHead = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// signText signs arbitrary head text with k, as a forger holding the key
// (or a buggy signer) would.
func signText(tb testing.TB, k *Key, name, text string) []byte {
	tb.Helper()
	s, err := newNoteSigner(name, k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		tb.Fatalf("note.Sign(%q): %v", text, err)
	}
	return msg
}

func TestParseHeadErrors(t *testing.T) {
	z, k := mkTestZone(t)
	good := z.Head.Note
	otherKey := mkKey(t, "example.", 9)
	netKey := mkKey(t, "example.net.", 2)
	netZone := mkSignedZone(t, netKey, mkParse(t, "example.net.", "@ 60 SOA ns. h. 1 2 3 4 5\n"), mkInception, mkExpiration, mkHeadTime)
	const root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	tests := []struct {
		name string
		msg  []byte
		key  *Key
		want error
	}{
		{"tampered serial", bytes.Replace(good, []byte("2025010101"), []byte("2025010102"), 1), k, ErrBadSignature},
		{"tampered signature", tamperSig(good), k, ErrBadSignature},
		{"another key of the zone", good, otherKey, ErrBadSignature},
		{"head of another zone", netZone.Head.Note, k, ErrWrongZone},
		{"head naming another zone, signed by this key", signText(t, k, "example.", "ddnrs-szh/v1\nexample.net.\n1\n1\n"+root+"\n1\n"), k, ErrWrongZone},
		{"not a note", []byte("hello\n"), k, ErrBadHead},
		{"empty", nil, k, ErrBadHead},
		{"control character", append([]byte("\x01"), good...), k, ErrBadHead},
		{"wrong magic", signText(t, k, "example.", "ddnrs-szh/v2\nexample.\n1\n1\n"+root+"\n1\n"), k, ErrBadHead},
		{"missing line", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n1\n"+root+"\n"), k, ErrBadHead},
		{"extra line", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n1\n"+root+"\n1\nx\n"), k, ErrBadHead},
		{"zone not canonical", signText(t, k, "example.", "ddnrs-szh/v1\nEXAMPLE.\n1\n1\n"+root+"\n1\n"), k, ErrBadHead},
		{"serial with leading zero", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n01\n1\n"+root+"\n1\n"), k, ErrBadHead},
		{"serial too big", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n4294967296\n1\n"+root+"\n1\n"), k, ErrBadHead},
		{"negative size", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n-1\n"+root+"\n1\n"), k, ErrBadHead},
		{"short root", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n1\nAAAA\n1\n"), k, ErrBadHead},
		{"unpadded root", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n1\n"+strings.TrimSuffix(root, "=")+"\n1\n"), k, ErrBadHead},
		{"time with sign", signText(t, k, "example.", "ddnrs-szh/v1\nexample.\n1\n1\n"+root+"\n+1\n"), k, ErrBadHead},
	}
	ecdsa := &Key{Zone: k.Zone, DNSKEY: dns.Copy(k.DNSKEY).(*dns.DNSKEY)}
	ecdsa.DNSKEY.Algorithm = dns.ECDSAP256SHA256
	misnamed := &Key{Zone: k.Zone, DNSKEY: dns.Copy(k.DNSKEY).(*dns.DNSKEY)}
	misnamed.DNSKEY.Hdr.Name = "example.net."
	tests = append(tests, []struct {
		name string
		msg  []byte
		key  *Key
		want error
	}{
		{"trusted key not Ed25519", good, ecdsa, ErrKeyAlgorithm},
		{"trusted DNSKEY owned by another zone", good, misnamed, ErrKeyZone},
		{"no key", good, nil, ErrBadSignature},
	}...)
	for _, tt := range tests {
		if _, err := ParseHead(tt.msg, tt.key); !errors.Is(err, tt.want) {
			t.Errorf("%s: ParseHead = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// tamperSig flips a bit in the signature bytes of a note's last line.
func tamperSig(msg []byte) []byte {
	out := bytes.Clone(msg)
	i := bytes.LastIndexByte(out[:len(out)-1], ' ') + 10
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}

func TestNoteNamePlus(t *testing.T) {
	if got, want := noteName(`a+b.example.`), `a\043b.example.`; got != want {
		t.Errorf("noteName(a+b.example.) = %q, want %q", got, want)
	}
	k := mkKey(t, "a+b.example.", 3)
	z := mkSignedZone(t, k, mkParse(t, "a+b.example.", "@ 60 SOA ns. h. 1 2 3 4 5\n"), mkInception, mkExpiration, mkHeadTime)
	if _, err := ParseHead(z.Head.Note, k); err != nil {
		t.Errorf("ParseHead(head of a+b.example.) = %v", err)
	}
}

func FuzzParseHead(f *testing.F) {
	z, k := mkTestZone(f)
	f.Add(z.Head.Note)
	f.Add([]byte("ddnrs-szh/v1\nexample.\n1\n1\nAAAA\n1\n\n— example. AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := ParseHead(msg, k)
		if err != nil {
			return
		}
		// Whatever parses was signed by k over exactly the text we read.
		if h.Zone != "example." {
			t.Fatalf("ParseHead accepted a head for %q", h.Zone)
		}
		if !bytes.HasPrefix(msg, []byte(h.text())) {
			t.Fatalf("ParseHead(%q) = %+v, whose text is not the note's", msg, h)
		}
	})
}
