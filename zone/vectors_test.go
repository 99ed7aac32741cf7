package zone

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/miekg/dns"
)

var updateVectors = flag.Bool("update", false, "rewrite the test vectors in testdata/vectors/")

const vectorsDir = "testdata/vectors"

// Vectors is the schema of testdata/vectors/vectors.json.
type Vectors struct {
	Comment string        `json:"comment"`
	Zone    string        `json:"zone"`
	Key     VectorKey     `json:"key"`
	Signing VectorSigning `json:"signing"`
	Tree    VectorTree    `json:"tree"`
	Head    VectorHead    `json:"head"`
	Proofs  []VectorProof `json:"proofs"`
}

// VectorKey is the owner key: a test fixture, published on purpose.
type VectorKey struct {
	Ed25519SeedHex   string `json:"ed25519_seed_hex"`
	Ed25519PublicHex string `json:"ed25519_public_hex"`
	DNSKEY           string `json:"dnskey"`
	KeyTag           uint16 `json:"key_tag"`
	NoteVerifierKey  string `json:"note_verifier_key"`
}

// VectorSigning gives the RRSIG window and head time, Unix seconds.
type VectorSigning struct {
	Inception  int64 `json:"rrsig_inception"`
	Expiration int64 `json:"rrsig_expiration"`
	HeadTime   int64 `json:"head_time"`
}

// VectorTree is the Merkle tree.
type VectorTree struct {
	Size       uint64       `json:"size"`
	RootHex    string       `json:"root_hex"`
	RootBase64 string       `json:"root_base64"`
	Leaves     []VectorLeaf `json:"leaves"`
}

// VectorLeaf is one leaf: its RRset's (name, type), data and hash.
type VectorLeaf struct {
	Index    uint64 `json:"index"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	TypeCode uint16 `json:"type_code"`
	DataHex  string `json:"data_hex"`
	HashHex  string `json:"hash_hex"`
}

// VectorHead is the signed zone head.
type VectorHead struct {
	Text string `json:"text"`
	Note string `json:"note"`
}

// VectorProof is one encoded proof and the question it answers.
type VectorProof struct {
	Description string   `json:"description"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	TypeCode    uint16   `json:"type_code"`
	Answer      []string `json:"answer_rrsets"` // "name TYPE" of each answered RRset, in order
	Hex         string   `json:"hex"`
}

// vectorProofs lists the proofs the vectors carry.
var vectorProofs = []struct {
	desc    string
	kind    ProofKind
	name    string
	t       uint16
	answers [][2]string // (name, type) of the answered RRsets
}{
	{"inclusion of www.example. A (two records)", Inclusion, "www.example.", dns.TypeA, [][2]string{{"www.example.", "A"}}},
	{"inclusion of a CNAME chain: alias.example. CNAME, then www.example. A", Inclusion, "alias.example.", dns.TypeA, [][2]string{{"alias.example.", "CNAME"}, {"www.example.", "A"}}},
	{"absence of nope.example. A (no such name)", Absence, "nope.example.", dns.TypeA, nil},
	{"absence of www.example. TXT (name exists, type does not)", Absence, "www.example.", dns.TypeTXT, nil},
	{"absence of example. type 0, before the first leaf (no left neighbour)", Absence, "example.", 0, nil},
	{"absence of zzz.example. A, after the last leaf (no right neighbour)", Absence, "zzz.example.", dns.TypeA, nil},
}

// buildVectors computes every vector file from mkTestZone.
func buildVectors(t *testing.T) map[string][]byte {
	t.Helper()
	z, k := mkTestZone(t)
	tree := z.Tree()
	vkey := mustVerifierKey(t, k)
	v := Vectors{
		Comment: "DDNRS Merkle tree, signed zone head and proof test vectors (format: README.md). " +
			"TEST FIXTURE: the private key below is published on purpose; never use it for a real zone.",
		Zone: z.Origin,
		Key: VectorKey{
			Ed25519SeedHex:   hex.EncodeToString(k.Private.Seed()),
			Ed25519PublicHex: hex.EncodeToString(k.Public()),
			DNSKEY:           k.DNSKEY.String(),
			KeyTag:           k.Tag(),
			NoteVerifierKey:  vkey,
		},
		Signing: VectorSigning{mkInception.Unix(), mkExpiration.Unix(), mkHeadTime.Unix()},
		Tree: VectorTree{
			Size:       tree.Size(),
			RootHex:    hex.EncodeToString(tree.root[:]),
			RootBase64: base64.StdEncoding.EncodeToString(tree.root[:]),
		},
		Head: VectorHead{Text: z.Head.text(), Note: string(z.Head.Note)},
	}
	for i, s := range z.RRsets() {
		h := tree.Leaf(uint64(i))
		v.Tree.Leaves = append(v.Tree.Leaves, VectorLeaf{
			Index: uint64(i), Name: s.Name, Type: dns.TypeToString[s.Type], TypeCode: s.Type,
			DataHex: hex.EncodeToString(LeafData(s)), HashHex: hex.EncodeToString(h[:]),
		})
	}
	var annotated strings.Builder
	for _, vp := range vectorProofs {
		var p *Proof
		var err error
		a := Answer{Name: vp.name, Type: vp.t}
		if vp.kind == Inclusion {
			for _, nt := range vp.answers {
				a.RRsets = append(a.RRsets, z.Node(nt[0]).RRset(dns.StringToType[nt[1]]))
			}
			p, err = z.ProveAnswer(a)
		} else {
			p, err = z.ProveAbsence(vp.name, vp.t)
		}
		if err != nil {
			t.Fatalf("%s: %v", vp.desc, err)
		}
		if err := Verify(a, p, z.Head.Note, k); err != nil {
			t.Fatalf("%s: Verify = %v", vp.desc, err)
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var answers []string
		for _, nt := range vp.answers {
			answers = append(answers, nt[0]+" "+nt[1])
		}
		v.Proofs = append(v.Proofs, VectorProof{
			Description: vp.desc, Kind: vp.kind.String(), Name: vp.name, Type: typeString(vp.t), TypeCode: vp.t,
			Answer: answers, Hex: hex.EncodeToString(b),
		})
		fmt.Fprintf(&annotated, "### %s\n\n```\n%s```\n\n", vp.desc, annotateProof(b))
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var zoneText bytes.Buffer
	fmt.Fprintf(&zoneText, "; TEST FIXTURE: the signed zone of vectors.json (DDNRS test vectors).\n")
	for _, rr := range z.Records() {
		fmt.Fprintln(&zoneText, rr.String())
	}
	var readme bytes.Buffer
	if err := readmeTemplate.Execute(&readme, map[string]any{
		"V": v, "Annotated": annotated.String(), "LeafExample": annotateLeaf(z.Node("www.example.").RRset(dns.TypeA)),
	}); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"vectors.json": append(js, '\n'),
		"zone.db":      zoneText.Bytes(),
		"head.note":    z.Head.Note,
		"README.md":    readme.Bytes(),
	}
}

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok && t != 0 {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func mustVerifierKey(tb testing.TB, k *Key) string {
	tb.Helper()
	v, err := newNoteVerifier(k.Zone, k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("%s+%08x+%s", v.Name(), v.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{1}, k.Public()...)))
}

// annotateProof prints an encoded proof one field a line, hex then meaning.
func annotateProof(b []byte) string {
	var out strings.Builder
	line := func(field []byte, format string, args ...any) {
		fmt.Fprintf(&out, "%-20x %s\n", field, fmt.Sprintf(format, args...))
	}
	line(b[:1], "version %d", b[0])
	line(b[1:2], "kind %d (%s)", b[1], ProofKind(b[1]))
	line(b[2:10], "tree size %d", binary.BigEndian.Uint64(b[2:]))
	rest := b[10:]
	leaf := func(label string) {
		line(rest[:8], "%s: leaf index %d", label, binary.BigEndian.Uint64(rest))
		n := int(rest[8])
		line(rest[8:9], "%s: audit path of %d hashes", label, n)
		rest = rest[9:]
		for i := 0; i < n; i++ {
			fmt.Fprintf(&out, "%x\n%-20s %s: path[%d]\n", rest[:32], "", label, i)
			rest = rest[32:]
		}
		d := int(binary.BigEndian.Uint32(rest))
		line(rest[:4], "%s: leaf data of %d bytes", label, d)
		if d > 0 {
			fmt.Fprintf(&out, "%x\n%-20s %s: leaf data\n", rest[4:4+d], "", label)
		}
		rest = rest[4+d:]
	}
	switch ProofKind(b[1]) {
	case Inclusion:
		n := int(binary.BigEndian.Uint16(rest))
		line(rest[:2], "leaf count %d", n)
		rest = rest[2:]
		for i := 0; i < n; i++ {
			leaf(fmt.Sprintf("leaf %d", i))
		}
	case Absence:
		flags := rest[0]
		line(rest[:1], "flags: left present %v, right present %v", flags&1 != 0, flags&2 != 0)
		rest = rest[1:]
		if flags&1 != 0 {
			leaf("left")
		}
		if flags&2 != 0 {
			leaf("right")
		}
	}
	return out.String()
}

// annotateLeaf prints the leaf data of s field by field.
func annotateLeaf(s *RRset) string {
	data := LeafData(s)
	var out strings.Builder
	for len(data) > 0 {
		_, off, _ := dns.UnpackDomainName(data, 0)
		rdlen := int(binary.BigEndian.Uint16(data[off+8:]))
		fmt.Fprintf(&out, "%-28x owner name, lower-case, uncompressed\n", data[:off])
		fmt.Fprintf(&out, "%-28x type %d\n", data[off:off+2], binary.BigEndian.Uint16(data[off:]))
		fmt.Fprintf(&out, "%-28x class 1 (IN)\n", data[off+2:off+4])
		fmt.Fprintf(&out, "%-28x TTL %d (the RRset's original TTL)\n", data[off+4:off+8], binary.BigEndian.Uint32(data[off+4:]))
		fmt.Fprintf(&out, "%-28x RDLENGTH %d\n", data[off+8:off+10], rdlen)
		fmt.Fprintf(&out, "%-28x RDATA\n", data[off+10:off+10+rdlen])
		data = data[off+10+rdlen:]
	}
	return out.String()
}

func TestVectors(t *testing.T) {
	files := buildVectors(t)
	if *updateVectors {
		if err := os.MkdirAll(vectorsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(vectorsDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rewrote %d files in %s", len(files), vectorsDir)
		return
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(vectorsDir, name))
		if err != nil {
			t.Errorf("%v (run go test ./zone -run TestVectors -update)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from what the code computes now: the leaf, head or proof format changed. "+
				"If that is on purpose, bump the format version, then run go test ./zone -run TestVectors -update", vectorsDir, name)
		}
	}
}

// TestStoredVectorsVerify reads the stored vectors as another SDK would
// and checks that every proof in them still verifies, and that every leaf
// hash and the root follow from the stored leaf data.
func TestStoredVectorsVerify(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(vectorsDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	rr, err := dns.NewRR(v.Key.DNSKEY)
	if err != nil {
		t.Fatal(err)
	}
	k := &Key{Zone: v.Zone, DNSKEY: rr.(*dns.DNSKEY)}
	zoneFile, err := os.ReadFile(filepath.Join(vectorsDir, "zone.db"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := New(v.Zone, mkParse(t, v.Zone, string(zoneFile)))
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][32]byte
	for _, l := range v.Tree.Leaves {
		data, _ := hex.DecodeString(l.DataHex)
		h := hashLeaf(data)
		if hex.EncodeToString(h[:]) != l.HashHex {
			t.Errorf("leaf %d: hash of data_hex = %x, stored %s", l.Index, h, l.HashHex)
		}
		leaves = append(leaves, h)
	}
	if root := refRoot(leaves); hex.EncodeToString(root[:]) != v.Tree.RootHex {
		t.Errorf("root of stored leaves = %x, stored %s", root, v.Tree.RootHex)
	}
	for _, vp := range v.Proofs {
		b, _ := hex.DecodeString(vp.Hex)
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			t.Errorf("%s: UnmarshalBinary = %v", vp.Description, err)
			continue
		}
		a := Answer{Name: vp.Name, Type: vp.TypeCode}
		for _, nt := range vp.Answer {
			name, typ, _ := strings.Cut(nt, " ")
			a.RRsets = append(a.RRsets, z.Node(name).RRset(dns.StringToType[typ]))
		}
		if err := Verify(a, &p, []byte(v.Head.Note), k); err != nil {
			t.Errorf("%s: Verify = %v", vp.Description, err)
		}
	}
}

var readmeTemplate = template.Must(template.New("readme").Parse(`# DDNRS proof test vectors

TEST FIXTURES. Everything here is generated by ` + "`go test ./zone -run TestVectors -update`" + `
and checked by ` + "`go test ./zone`" + `, which fails on any difference. The private key
in vectors.json is published on purpose: never use it for a real zone.

Other-language SDKs should reproduce every value below from zone.db and the
key, and verify every proof.

| file | what |
| --- | --- |
| zone.db | the signed zone {{.V.Zone}} (RRSIGs and NSEC included), one record a line, canonical order |
| vectors.json | key, RRSIG window, every leaf (name, type, data, hash), size, root, the head, proofs in hex |
| head.note | the signed zone head as it travels |
| README.md | this file |

## Leaves

One leaf per RRset of the zone, RRSIG records excluded (NSEC and DNSKEY
RRsets are leaves), ordered by owner name in canonical DNS order
(RFC 4034 §6.1) then by type number. The leaf data is the RRset in
canonical wire form (RFC 4034 §6.2, §6.3): for each record, sorted by RDATA
as left-justified unsigned octets, duplicates removed, the lower-cased owner
name in uncompressed wire form, type, class, the RRset's original TTL,
RDLENGTH and RDATA, with the domain names inside RDATA lower-cased for the
types RFC 4034 §6.2 lists (RFC 6840 §5.1: not HINFO). It is exactly the
record part of what an RRSIG over the RRset signs. The leaf hash is
SHA-256(0x00 ‖ data); inner nodes are SHA-256(0x01 ‖ left ‖ right); the tree
over n leaves is RFC 6962 §2.1's (split at the largest power of two below
n). This zone has {{.V.Tree.Size}} leaves and root {{.V.Tree.RootHex}}.

Leaf data of www.example. A, field by field:

` + "```" + `
{{.LeafExample}}` + "```" + `

## Signed zone head

A signed note (golang.org/x/mod/sumdb/note, the C2SP signed-note format).
The text is six lines, each ending in a newline:

` + "```" + `
{{.V.Head.Text}}` + "```" + `

1. ` + "`ddnrs-szh/v1`" + `, the format;
2. the zone name, lower-case, fully qualified;
3. the SOA serial, decimal;
4. the number of leaves, decimal;
5. the root, standard base64 with padding;
6. the time the owner made it, Unix seconds, decimal.

Decimals have no sign and no leading zeros. The signature line is
` + "`— <key name> <base64(key hash ‖ Ed25519 signature over the text)>`" + `. The key
name is the zone name ('+' written as \043); the key hash is the first four
bytes, big-endian, of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ Ed25519 public key),
the standard signed-note Ed25519 key hash. The owner's key is the zone's
DNSKEY (algorithm 15). As a signed-note verifier key:
` + "`{{.V.Key.NoteVerifierKey}}`" + `.

## Proof encoding, version 1

All integers are big-endian.

` + "```" + `
version     u8     1; reject any other
kind        u8     1 inclusion, 2 absence; reject any other
size        u64    tree size (leaf count); must equal the head's
inclusion:
  count     u16    number of leaves, >= 1: one per answered RRset, in the answer's order
  count × leaf
absence:
  flags     u8     0x01 left leaf present, 0x02 right leaf present; other bits 0; not 0
  [left leaf] [right leaf]
leaf:
  index     u64    leaf index, from 0
  pathlen   u8     number of audit path hashes, <= 64
  path      pathlen × 32 bytes, RFC 6962 audit path, leaf to root
  datalen   u32    0 in an inclusion proof; > 0 in an absence proof
  data      datalen bytes: the leaf data of the neighbour RRset
` + "```" + `

Nothing may follow the last field.

Verifying (zone.Verify): check the head's signature with the trusted key and
that it names the zone; check size equals the head's; for inclusion, check
each answered RRset's RRSIG with the key (valid at the head's time), compute
its leaf hash (with the RRSIG's original TTL) and check the audit path leads
to the head's root; for absence, check the two leaves are adjacent
(right.index = left.index + 1, or the only leaf is index 0 when the left is
absent, or index size-1 when the right is absent), both audit paths lead to
the root from SHA-256(0x00 ‖ data), and the question's (name, type) sorts
strictly between the (owner, type) of the first record of each leaf's data.
Rollback and freshness are the caller's: remember the highest serial seen.

{{.Annotated}}`))
