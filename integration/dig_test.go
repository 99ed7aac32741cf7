package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// serveFixture makes a fresh key for the fixture zone and starts
// `ddnrs dev --zone FILE --key KEY` on the unsigned file (dev signs it);
// t.Cleanup stops it.
func serveFixture(t *testing.T) (*devNode, signedZone) {
	t.Helper()
	sz := signFixture(t)
	d := startDev(t, t.TempDir(), "--zone", sz.Unsigned, "--key", sz.Key)
	return d, sz
}

// client is a command-line DNS client under test.
type client struct {
	name, pkg string
	tcp       string   // flag selecting TCP
	base      []string // flags for every query
}

var clients = []client{
	{"dig", "bind9-dnsutils", "+tcp", []string{"+time=2", "+tries=2"}},
	{"kdig", "knot-dnsutils", "+tcp", []string{"+time=2", "+retry=1"}},
}

// query runs one client query against addr and parses the output.
func (c client) query(t *testing.T, bin string, d *devNode, extra ...string) digResult {
	t.Helper()
	args := append([]string{"@" + d.host, "-p", d.port}, c.base...)
	args = append(args, extra...)
	out, errOut, err := tryCmd("", bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", c.name, strings.Join(args, " "), err, out, errOut)
	}
	return parseDig(out)
}

// digCase is one question and what a correct authoritative answer holds.
type digCase struct {
	desc   string
	qname  string
	qtype  string
	do     bool
	status string
	aa     bool
	answer []string // exact answer records (normalized); nil with answerTypes
	// answerTypes, when set, is the sorted multiset of answer types instead.
	answerTypes []string
	authTypes   []string // sorted types that must all appear in authority
	addl        []string // records that must appear in additional
}

var digCases = []digCase{
	{desc: "positive", qname: "www.example.", qtype: "A", status: "NOERROR", aa: true,
		answer: []string{"www.example. 3600 IN A 192.0.2.80"}},
	{desc: "positive AAAA", qname: "www.example.", qtype: "AAAA", status: "NOERROR", aa: true,
		answer: []string{"www.example. 3600 IN AAAA 2001:db8::80"}},
	{desc: "NXDOMAIN", qname: "nope.example.", qtype: "A", status: "NXDOMAIN", aa: true,
		answer: []string{}, authTypes: []string{"SOA"}},
	{desc: "NODATA", qname: "www.example.", qtype: "TXT", status: "NOERROR", aa: true,
		answer: []string{}, authTypes: []string{"SOA"}},
	{desc: "empty non-terminal", qname: "b.c.example.", qtype: "A", status: "NOERROR", aa: true,
		answer: []string{}, authTypes: []string{"SOA"}},
	{desc: "wildcard", qname: "foo.wild.example.", qtype: "A", status: "NOERROR", aa: true,
		answer: []string{"foo.wild.example. 3600 IN A 192.0.2.99"}},
	{desc: "wildcard two labels down", qname: "a.b.wild.example.", qtype: "TXT", status: "NOERROR", aa: true,
		answer: []string{`a.b.wild.example. 3600 IN TXT "wildcard"`}},
	{desc: "existing name beside wildcard, missing type", qname: "exact.wild.example.", qtype: "TXT", status: "NOERROR", aa: true,
		answer: []string{}, authTypes: []string{"SOA"}},
	{desc: "CNAME chain", qname: "alias.example.", qtype: "A", status: "NOERROR", aa: true,
		answer: []string{
			"alias.example. 3600 IN CNAME alias2.example.",
			"alias2.example. 3600 IN CNAME www.example.",
			"www.example. 3600 IN A 192.0.2.80",
		}},
	{desc: "CNAME out of zone", qname: "ext.example.", qtype: "A", status: "NOERROR", aa: true,
		answer: []string{"ext.example. 3600 IN CNAME www.example.net."}},
	{desc: "referral with glue", qname: "host.sub.example.", qtype: "A", status: "NOERROR", aa: false,
		answer: []string{}, authTypes: []string{"NS", "NS"},
		addl: []string{"ns1.sub.example. 3600 IN A 192.0.2.201", "ns1.sub.example. 3600 IN AAAA 2001:db8::201", "ns2.sub.example. 3600 IN A 192.0.2.202"}},
	{desc: "multi-string TXT", qname: "txt.example.", qtype: "TXT", status: "NOERROR", aa: true,
		answer: []string{`txt.example. 3600 IN TXT "first string" "second string" "third"`}},
	{desc: "60-record RRset", qname: "big.example.", qtype: "A", status: "NOERROR", aa: true,
		answerTypes: slices.Repeat([]string{"A"}, 60)},
	{desc: "outside hosted zones", qname: "www.example.net.", qtype: "A", status: "REFUSED", aa: false,
		answer: []string{}},
	{desc: "DO positive", qname: "www.example.", qtype: "A", do: true, status: "NOERROR", aa: true,
		answerTypes: []string{"A", "RRSIG"}},
	{desc: "DO NXDOMAIN", qname: "nope.example.", qtype: "A", do: true, status: "NXDOMAIN", aa: true,
		answer: []string{}, authTypes: []string{"NSEC", "RRSIG", "RRSIG", "SOA"}},
	{desc: "DO NODATA", qname: "www.example.", qtype: "TXT", do: true, status: "NOERROR", aa: true,
		answer: []string{}, authTypes: []string{"NSEC", "RRSIG", "RRSIG", "SOA"}},
	{desc: "DO wildcard", qname: "foo.wild.example.", qtype: "A", do: true, status: "NOERROR", aa: true,
		answerTypes: []string{"A", "RRSIG"}, authTypes: []string{"NSEC", "RRSIG"}},
	{desc: "DO referral", qname: "host.sub.example.", qtype: "A", do: true, status: "NOERROR", aa: false,
		answer: []string{}, authTypes: []string{"DS", "NS", "NS", "RRSIG"}},
	{desc: "unsigned referral", qname: "www.nods.example.", qtype: "A", status: "NOERROR", aa: false,
		answer: []string{}, authTypes: []string{"NS"}},
	{desc: "DO unsigned referral", qname: "www.nods.example.", qtype: "A", do: true, status: "NOERROR", aa: false,
		answer: []string{}, authTypes: []string{"NS", "NSEC", "RRSIG"}},
}

// check compares one parsed answer with the case and returns the problems.
func (c digCase) check(r digResult) []string {
	var bad []string
	if r.Status != c.status {
		bad = append(bad, fmt.Sprintf("status %s, want %s", r.Status, c.status))
	}
	if r.Flags["aa"] != c.aa {
		bad = append(bad, fmt.Sprintf("aa %v, want %v", r.Flags["aa"], c.aa))
	}
	if r.Flags["tc"] {
		bad = append(bad, "tc set")
	}
	if c.answer != nil {
		want := slices.Clone(c.answer)
		slices.Sort(want)
		if !slices.Equal(r.Answer, want) {
			bad = append(bad, fmt.Sprintf("answer %q, want %q", r.Answer, want))
		}
	}
	if c.answerTypes != nil {
		got := types(r.Answer)
		slices.Sort(got)
		if !slices.Equal(got, c.answerTypes) {
			bad = append(bad, fmt.Sprintf("answer types %v, want %v", got, c.answerTypes))
		}
	}
	if c.authTypes != nil {
		got := types(r.Authority)
		slices.Sort(got)
		if !containsAll(got, c.authTypes) {
			bad = append(bad, fmt.Sprintf("authority types %v, want at least %v", got, c.authTypes))
		}
	}
	for _, a := range c.addl {
		if !slices.Contains(r.Additional, a) {
			bad = append(bad, fmt.Sprintf("additional %q lacks %q", r.Additional, a))
		}
	}
	return bad
}

// containsAll reports whether sorted multiset got holds every element of
// sorted multiset want, counting repeats.
func containsAll(got, want []string) bool {
	i := 0
	for _, w := range want {
		for i < len(got) && got[i] < w {
			i++
		}
		if i == len(got) || got[i] != w {
			return false
		}
		i++
	}
	return true
}

func TestDigKdig(t *testing.T) {
	needBinary(t)
	d, _ := serveFixture(t)
	for _, c := range clients {
		bin := needTool(t, c.name, c.pkg)
		for _, tr := range []string{"udp", "tcp"} {
			for _, dc := range digCases {
				args := []string{dc.qname, dc.qtype}
				if tr == "tcp" {
					args = append(args, c.tcp)
				}
				if dc.do {
					args = append(args, "+dnssec")
				}
				r := c.query(t, bin, d, args...)
				if bad := dc.check(r); len(bad) > 0 {
					t.Errorf("%s %s %s %s (%s): %s\n%s", c.name, tr, dc.qname, dc.qtype, dc.desc, strings.Join(bad, "; "), r.Raw)
				}
			}
		}
	}
}

func TestTruncationAndTCPRetry(t *testing.T) {
	needBinary(t)
	d, _ := serveFixture(t)
	for _, c := range clients {
		bin := needTool(t, c.name, c.pkg)
		// +ignore: see the truncated UDP reply itself.
		r := c.query(t, bin, d, "big.example.", "A", "+bufsize=512", "+ignore")
		if !r.Flags["tc"] {
			t.Errorf("%s +bufsize=512 +ignore big.example. A: tc not set\n%s", c.name, r.Raw)
		}
		if r.Status != "NOERROR" {
			t.Errorf("%s +bufsize=512 +ignore big.example. A: status %s, want NOERROR", c.name, r.Status)
		}
		if n := len(r.Answer); n >= 60 {
			t.Errorf("%s +bufsize=512 +ignore big.example. A: %d answers in a truncated reply", c.name, n)
		}
		// Default: the client retries over TCP and gets all 60 records.
		r = c.query(t, bin, d, "big.example.", "A", "+bufsize=512")
		if got := types(r.Answer); len(got) != 60 || r.Flags["tc"] {
			t.Errorf("%s +bufsize=512 big.example. A: %d answers, tc=%v after TCP retry, want 60, false\n%s", c.name, len(got), r.Flags["tc"], r.Raw)
		}
		if c.name == "dig" && !r.Retried {
			t.Errorf("dig +bufsize=512 big.example. A: dig did not report a TCP retry\n%s", r.Raw)
		}
		// With DO the answer with 60 A records and an RRSIG exceeds 512 too.
		r = c.query(t, bin, d, "big.example.", "A", "+bufsize=512", "+dnssec")
		if got := types(r.Answer); len(got) != 61 {
			t.Errorf("%s +bufsize=512 +dnssec big.example. A: answer types %v, want 60 A and an RRSIG", c.name, got)
		}
	}
}

func TestQuestionCasePreserved(t *testing.T) {
	needBinary(t)
	d, _ := serveFixture(t)
	// Only dig: kdig lower-cases the name before sending it.
	for _, c := range clients[:1] {
		bin := needTool(t, c.name, c.pkg)
		for _, tr := range []string{"udp", "tcp"} {
			args := []string{"WwW.ExAmPlE.", "A"}
			if tr == "tcp" {
				args = append(args, c.tcp)
			}
			r := c.query(t, bin, d, args...)
			if r.Question != "WwW.ExAmPlE." {
				t.Errorf("%s %s question = %q, want %q\n%s", c.name, tr, r.Question, "WwW.ExAmPlE.", r.Raw)
			}
			if want := []string{"www.example. 3600 IN A 192.0.2.80"}; !slices.Equal(r.Answer, want) {
				t.Errorf("%s %s WwW.ExAmPlE. A answer = %q, want %q", c.name, tr, r.Answer, want)
			}
		}
	}
}
