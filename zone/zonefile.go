package zone

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// ErrSyntax is returned when a zone file cannot be parsed; the wrapped
// parser error names the file, line and column.
var ErrSyntax = errors.New("zone file syntax error")

// ReadRecords parses a zone file in the BIND master-file format
// (RFC 1035 §5) read from r. Relative names are completed with origin;
// filename only labels errors. $INCLUDE is refused, so untrusted input
// cannot make the reader open files. A syntax error wraps ErrSyntax and
// names the file and line.
func ReadRecords(r io.Reader, origin, filename string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(r, CanonicalName(origin), filename)
	zp.SetIncludeAllowed(false)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if noRdata(rr) {
			h := rr.Header()
			return nil, fmt.Errorf("%w: %s: %s %s has no RDATA", ErrSyntax, filename, h.Name, dns.TypeToString[h.Rrtype])
		}
		norm, err := wireForm(rr)
		if err != nil {
			h := rr.Header()
			return nil, fmt.Errorf("%w: %s: %s %s: %w", ErrSyntax, filename, h.Name, dns.TypeToString[h.Rrtype], err)
		}
		rrs = append(rrs, norm)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return rrs, nil
}

// wireForm returns rr packed and unpacked again, so that names are spelled
// the one way the wire decoder spells them (a name typed as ' comes back
// as \'): two spellings of one name must not make two owners.
func wireForm(rr dns.RR) (dns.RR, error) {
	buf := make([]byte, dns.Len(rr)+16)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	out, _, err := dns.UnpackRR(buf[:off], 0)
	if err != nil {
		return nil, err
	}
	// The decoder accepts RDATA cut short (for dynamic update); a record
	// that does not pack back to the same bytes is malformed.
	again := make([]byte, off+16)
	off2, err := dns.PackRR(out, again, 0, nil, false)
	if err != nil || !bytes.Equal(again[:off2], buf[:off]) {
		return nil, errors.New("malformed RDATA")
	}
	// What Write will print must read back: this refuses the few records
	// the parser builds but cannot print legibly (an empty name in RDATA).
	if _, err := dns.NewRR(out.String()); err != nil {
		return nil, errors.New("malformed RDATA")
	}
	return out, nil
}

// noRdata reports whether rr was written without RDATA, which the parser
// accepts for dynamic updates (RFC 2136) but a zone file must not hold.
func noRdata(rr dns.RR) bool {
	newRR, ok := dns.TypeToRR[rr.Header().Rrtype]
	if !ok {
		return false
	}
	zero := newRR()
	*zero.Header() = *rr.Header()
	return dns.IsDuplicate(rr, zero)
}

// ParseFile reads a zone file with ReadRecords and builds the Zone with
// New, so a record outside the zone, a CNAME beside other data, a missing
// SOA or an RRset with two TTLs is an error. Every error names filename.
func ParseFile(r io.Reader, origin, filename string) (*Zone, error) {
	rrs, err := ReadRecords(r, origin, filename)
	if err != nil {
		return nil, err
	}
	z, err := New(origin, rrs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return z, nil
}

// Write writes z as a BIND master file: an $ORIGIN line, then every
// RRset in canonical order (RFC 4034 §6), its records in canonical RDATA
// order, each followed by its RRSIGs, with a blank line between owner
// names. dnssec-signzone, ldns-read-zone and ReadRecords read it back.
func Write(w io.Writer, z *Zone) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; zone %s serial %d\n", z.Origin, z.Serial())
	fmt.Fprintf(bw, "$ORIGIN %s\n", z.Origin)
	for i, n := range z.Nodes() {
		if i > 0 {
			bw.WriteByte('\n')
		}
		for _, s := range n.RRsets {
			for _, rr := range sortedRRs(s.Records()) {
				writeRR(bw, rr)
			}
			for _, sig := range s.Signatures() {
				writeRR(bw, sig)
			}
		}
	}
	return bw.Flush()
}

func writeRR(w *bufio.Writer, rr dns.RR) {
	// String separates fields with tabs; the header is
	// "name\tttl\tclass\ttype\t".
	w.WriteString(strings.TrimRight(rr.String(), " \t"))
	w.WriteByte('\n')
}

// sortedRRs returns rrs in canonical RDATA order (RFC 4034 §6.3), sharing
// the slice when it is already sorted.
func sortedRRs(rrs []dns.RR) []dns.RR {
	if len(rrs) < 2 {
		return rrs
	}
	keys := make([]string, len(rrs))
	var scratch []byte
	for i, rr := range rrs {
		rd, err := canonicalRDATA(rr, &scratch)
		if err != nil {
			return rrs
		}
		keys[i] = string(rd)
	}
	if sort.StringsAreSorted(keys) {
		return rrs
	}
	idx := make([]int, len(rrs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	out := make([]dns.RR, len(rrs))
	for i, j := range idx {
		out[i] = rrs[j]
	}
	return out
}
