package client_test

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// TestVerifyAnswerQuestion: an answer is accepted only for the question
// its question section asks. Genuine records under another question
// (another name, another type, none, two) are refused with ErrNotAnswer,
// though the records and proof verify: the response is served as the
// answer to the question a client asked.
func TestVerifyAnswerQuestion(t *testing.T) {
	z, key := exampleZone()
	a := groupAnswer(z, "www.example.", dns.TypeA)
	anchors := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}
	tests := []struct {
		desc     string
		question []dns.Question
		want     error
	}{
		{"as asked", []dns.Question{{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}, nil},
		{"letter case differs", []dns.Question{{Name: "WwW.ExAmple.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}, nil},
		{"another type", []dns.Question{{Name: "www.example.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}}, client.ErrNotAnswer},
		{"another name", []dns.Question{{Name: "ns1.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}, client.ErrNotAnswer},
		{"no question", nil, client.ErrNotAnswer},
		{"two questions", []dns.Question{
			{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
			{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
		}, client.ErrNotAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			m := new(dns.Msg)
			if err := m.Unpack(a.Msg); err != nil {
				t.Fatal(err)
			}
			m.Question = tt.question
			msg, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			v := client.NewVerifier(anchors, nil)
			_, err = v.VerifyAnswer("www.example.", dns.TypeA, msg, a.Head, a.Proof)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("VerifyAnswer(www.example., A) with question %v = %v, want %v", tt.question, err, tt.want)
			}
			var ve *client.VerifyError
			if err != nil && (!errors.As(err, &ve) || ve.Zone != "example." || ve.Serial != 7) {
				t.Errorf("VerifyAnswer error %v: want a *VerifyError for example. serial 7", err)
			}
		})
	}
}
