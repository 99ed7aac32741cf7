package integration

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// digResult is what a test reads from dig's or kdig's text output.
type digResult struct {
	Status     string          // "NOERROR", "NXDOMAIN", ...
	Flags      map[string]bool // header flags: qr aa tc rd ra ad cd
	Question   string          // the question's owner name, as printed
	Answer     []string        // answer records, normalized, sorted
	Authority  []string
	Additional []string
	Retried    bool // the client reported a truncated UDP reply and retried over TCP
	Raw        string
}

var (
	statusRE = regexp.MustCompile(`status: ([A-Z]+)`)
	flagsRE  = regexp.MustCompile(`^;; [Ff]lags:([a-z ]*);`)
)

// parseDig reads the output of one dig or kdig query. Both print a header
// line with the status, a flags line, and sections headed ";; NAME SECTION:".
func parseDig(out string) digResult {
	r := digResult{Flags: map[string]bool{}, Raw: out}
	var section *[]string
	inQuestion := false
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if m := statusRE.FindStringSubmatch(line); m != nil {
				r.Status = m[1]
			}
			continue
		case flagsRE.MatchString(line):
			m := flagsRE.FindStringSubmatch(line)
			r.Flags = map[string]bool{}
			for _, f := range strings.Fields(m[1]) {
				r.Flags[f] = true
			}
			continue
		case strings.Contains(line, "Truncated, retrying in TCP mode") || strings.Contains(strings.ToLower(line), "truncated reply"):
			r.Retried = true
			continue
		case strings.HasPrefix(line, ";; QUESTION SECTION:"):
			section, inQuestion = nil, true
			continue
		case strings.HasPrefix(line, ";; ANSWER SECTION:"):
			section, inQuestion = &r.Answer, false
			continue
		case strings.HasPrefix(line, ";; AUTHORITY SECTION:"):
			section, inQuestion = &r.Authority, false
			continue
		case strings.HasPrefix(line, ";; ADDITIONAL SECTION:"):
			section, inQuestion = &r.Additional, false
			continue
		case trimmed == "":
			section, inQuestion = nil, false
			continue
		}
		if inQuestion {
			q := strings.TrimLeft(trimmed, "; ")
			if f := strings.Fields(q); len(f) > 0 && r.Question == "" {
				r.Question = f[0]
			}
			continue
		}
		if section != nil && !strings.HasPrefix(trimmed, ";") {
			*section = append(*section, normRR(trimmed))
		}
	}
	sort.Strings(r.Answer)
	sort.Strings(r.Authority)
	sort.Strings(r.Additional)
	return r
}

// normRR returns a record in miekg/dns's presentation form with a
// lower-case owner, so dig's and kdig's spellings compare equal. A line
// that does not parse is returned with its whitespace collapsed.
func normRR(s string) string {
	rr, err := dns.NewRR(s)
	if err != nil || rr == nil {
		return strings.Join(strings.Fields(s), " ")
	}
	rr.Header().Name = strings.ToLower(rr.Header().Name)
	return strings.Join(strings.Fields(rr.String()), " ")
}

// types returns the record types of normalized records, in order.
func types(rrs []string) []string {
	var out []string
	for _, s := range rrs {
		f := strings.Fields(s)
		if len(f) >= 4 {
			out = append(out, f[3])
		}
	}
	return out
}

func TestParseDig(t *testing.T) {
	digOut := `
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> @127.0.0.1 -p 5300 WwW.example. A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1
;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags: do; udp: 1232
;; QUESTION SECTION:
;WwW.example.			IN	A

;; ANSWER SECTION:
WwW.example.		3600	IN	A	192.0.2.10

;; Query time: 0 msec
`
	kdigOut := `;; ->>HEADER<<- opcode: QUERY; status: NXDOMAIN; id: 2
;; Flags: qr aa tc; QUERY: 1; ANSWER: 0; AUTHORITY: 1; ADDITIONAL: 0

;; QUESTION SECTION:
;; nope.example.       		IN	A

;; AUTHORITY SECTION:
example.            	300	IN	SOA	ns1.example. hostmaster.example. 1 7200 3600 1209600 300
`
	tests := []struct {
		name     string
		out      string
		status   string
		flags    string
		question string
		answer   []string
		auth     int
	}{
		{"dig", digOut, "NOERROR", "aa qr rd", "WwW.example.", []string{"www.example. 3600 IN A 192.0.2.10"}, 0},
		{"kdig", kdigOut, "NXDOMAIN", "aa qr tc", "nope.example.", nil, 1},
	}
	for _, tt := range tests {
		r := parseDig(tt.out)
		var flags []string
		for f := range r.Flags {
			flags = append(flags, f)
		}
		sort.Strings(flags)
		if r.Status != tt.status || strings.Join(flags, " ") != tt.flags || r.Question != tt.question ||
			strings.Join(r.Answer, "|") != strings.Join(tt.answer, "|") || len(r.Authority) != tt.auth {
			t.Errorf("parseDig(%s) = status %s flags %v question %q answer %q authority %d, want %s %s %q %q %d",
				tt.name, r.Status, flags, r.Question, r.Answer, len(r.Authority), tt.status, tt.flags, tt.question, tt.answer, tt.auth)
		}
	}
}
