package zone

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const soaLine = "@ 3600 IN SOA ns1 host 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\n"

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		desc     string
		text     string
		want     error
		wantText []string // the error must name these
	}{
		{"syntax error", soaLine + "www 3600 IN A 192.0.2.300\n", ErrSyntax, []string{"t.zone", "line: 4"}},
		{"unknown type", soaLine + "\n\nwww 3600 IN BOGUS x\n", ErrSyntax, []string{"t.zone", "line: 6"}},
		{"$INCLUDE refused", soaLine + "$INCLUDE /etc/passwd\n", ErrSyntax, []string{"t.zone", "$INCLUDE"}},
		{"record outside the zone", soaLine + "www.example.org. 3600 IN A 192.0.2.1\n", ErrOutOfZone, []string{"t.zone", "www.example.org.", "A"}},
		{"CNAME beside other data", soaLine + "www 3600 IN CNAME ns1\nwww 3600 IN TXT \"x\"\n", ErrCNAMEAndOther, []string{"t.zone", "www.example.", "CNAME"}},
		{"missing SOA", "www 3600 IN A 192.0.2.1\n", ErrNoSOA, []string{"t.zone", "example.", "SOA"}},
		{"two SOAs", soaLine + "@ 3600 IN SOA ns2 host 2 7200 3600 1209600 300\n", ErrNoSOA, []string{"SOA"}},
		{"record without RDATA", soaLine + "www 3600 IN MX\n", ErrSyntax, []string{"t.zone", "www.example. MX", "no RDATA"}},
		{"TTL mismatch", soaLine + "www 3600 IN A 192.0.2.1\nwww 60 IN A 192.0.2.2\n", ErrTTLMismatch, []string{"t.zone", "www.example.", "A"}},
		{"class other than IN", soaLine + "www 3600 CH A 192.0.2.1\n", ErrClass, []string{"www.example."}},
	}
	for _, tc := range tests {
		_, err := ParseFile(strings.NewReader(tc.text), "example.", "t.zone")
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseFile(%s) = %v, want %v", tc.desc, err, tc.want)
			continue
		}
		for _, w := range tc.wantText {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseFile(%s) = %q, want it to name %q", tc.desc, err, w)
			}
		}
	}
}

func TestReadRecordsExample(t *testing.T) {
	z := loadExample(t)
	tests := []struct {
		name  string
		t     uint16
		count int
	}{
		{"big.example.", dns.TypeA, 60},
		{"txt.example.", dns.TypeTXT, 1},
		{"*.wild.example.", dns.TypeA, 1},
		{"sub.example.", dns.TypeNS, 2},
		{"ns1.sub.example.", dns.TypeAAAA, 1},
	}
	for _, tc := range tests {
		s := rrset(z, tc.name, tc.t)
		if s == nil || s.NumRecords() != tc.count {
			t.Errorf("ParseFile(example.zone): %s %s = %v, want %d records", tc.name, dns.TypeToString[tc.t], s, tc.count)
		}
	}
	if txt := rrset(z, "txt.example.", dns.TypeTXT); txt != nil && len(txt.First().(*dns.TXT).Txt) != 3 {
		t.Errorf("ParseFile(example.zone): txt TXT strings = %q, want 3", txt.First().(*dns.TXT).Txt)
	}
	if n := z.Node("b.c.example."); n == nil || !n.Empty() {
		t.Errorf("ParseFile(example.zone): b.c = %v, want an empty non-terminal", n)
	}
}

func TestWrite(t *testing.T) {
	// Records given out of order and mixed case come back sorted and
	// canonical.
	text := soaLine + "B 3600 IN A 192.0.2.2\nWWW 3600 IN A 192.0.2.9\nwww 3600 IN A 192.0.2.8\na 3600 IN TXT \"two\" \"strings\"\n"
	z, err := ParseFile(strings.NewReader(text), "Example.", "t.zone")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, z); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	var gotOrder []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if line != "" && line[0] != ';' && line[0] != '$' {
			gotOrder = append(gotOrder, strings.Fields(line)[0])
		}
	}
	wantOrder := []string{"example.", "example.", "a.example.", "b.example.", "ns1.example.", "www.example.", "www.example."}
	if strings.Join(gotOrder, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("Write() owners = %v, want %v", gotOrder, wantOrder)
	}
	if i, j := strings.Index(buf.String(), "192.0.2.8"), strings.Index(buf.String(), "192.0.2.9"); i < 0 || j < i {
		t.Errorf("Write() puts 192.0.2.9 before 192.0.2.8:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"two" "strings"`) {
		t.Errorf("Write() lost the TXT strings:\n%s", buf.String())
	}
	back, err := ParseFile(bytes.NewReader(buf.Bytes()), "example.", "written")
	if err != nil {
		t.Fatalf("ParseFile(Write()) = %v\n%s", err, buf.String())
	}
	if d := Diff(z, back); !d.Empty() {
		t.Errorf("Diff(z, ParseFile(Write(z))) = %+v, want empty", d)
	}
}

// FuzzReadRecords feeds the zone-file reader arbitrary text. Whatever
// ReadRecords and New accept, Write must write and ReadRecords must read
// back to the same RRsets.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(soaLine + "www IN A 192.0.2.1\n"))
	f.Add([]byte(soaLine + "*.wild IN TXT \"a\" \"b\"\nsub NS ns.sub\nns.sub A 192.0.2.2\n"))
	f.Add([]byte("$TTL 60\n@ SOA ns host ( 1 2 3 4 5 )\n@ MX 10 mail\n"))
	f.Add([]byte("$ORIGIN other.\n@ 1 SOA a b 1 2 3 4 5\n"))
	f.Add([]byte("$INCLUDE x\n"))
	f.Add([]byte(soaLine + "a\\.b 60 IN A 192.0.2.1\n\\# 60 IN TYPE65534 \\# 2 abcd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Contains(bytes.ToUpper(data), []byte("$GENERATE")) {
			// A few bytes of $GENERATE make 65,536 records: correct but
			// slow enough to stall the fuzzer.
			return
		}
		rrs, err := ReadRecords(bytes.NewReader(data), "example.", "fuzz")
		if err != nil {
			return
		}
		z, err := New("example.", rrs)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, z); err != nil {
			t.Fatalf("Write(New(ReadRecords(%q))) = %v", data, err)
		}
		back, err := ParseFile(bytes.NewReader(buf.Bytes()), "example.", "written")
		if err != nil {
			t.Fatalf("ParseFile(Write(...)) = %v\ninput: %q\nwritten:\n%s", err, data, buf.String())
		}
		if d := Diff(z, back); !d.Empty() {
			t.Fatalf("Diff(z, ParseFile(Write(z))) = %+v\ninput: %q\nwritten:\n%s", d, data, buf.String())
		}
	})
}
