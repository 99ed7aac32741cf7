package admin

import (
	"strings"
	"testing"
)

func TestParseProcessedLine(t *testing.T) {
	tests := []struct {
		line string
		want ProcessedLine
		err  string
	}{
		{`{"id":"n2","processed_index":42}`, ProcessedLine{ID: "n2", Index: 42}, ""},
		{`{"id":"n2","processed_index":42,"later":true}`, ProcessedLine{ID: "n2", Index: 42}, ""},
		{`{"processed_index":42}`, ProcessedLine{}, "without the member's id"},
		{`{"id":"n2","processed_index":-1}`, ProcessedLine{}, "processed stream"},
		{`not json`, ProcessedLine{}, "processed stream"},
		{``, ProcessedLine{}, "processed stream"},
		{`{"id":"` + strings.Repeat("x", 2000) + `"}`, ProcessedLine{}, "at most 1024"},
	}
	for _, tt := range tests {
		got, err := ParseProcessedLine([]byte(tt.line))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseProcessedLine(%.40q) = %+v, %v; want an error with %q", tt.line, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseProcessedLine(%.40q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
}

// FuzzParseProcessedLine: a line of a member's processed stream
// (network bytes) never panics, and what it accepts names a member.
func FuzzParseProcessedLine(f *testing.F) {
	f.Add([]byte(`{"id":"n2","processed_index":42}`))
	f.Add([]byte(`{"id":"","processed_index":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProcessedLine(b)
		if err == nil && p.ID == "" {
			t.Fatalf("accepted %q without an id", b)
		}
	})
}
