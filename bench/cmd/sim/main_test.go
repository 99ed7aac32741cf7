package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestParse: every bad flag value is refused with a message naming the
// flag; -help prints the examples.
func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error; "" = accepted
	}{
		{nil, ""},
		{[]string{"-nodes", "50", "-alphas", "1.0", "-qps", "5"}, ""},
		{[]string{"-nodes", "13"}, "-nodes 13"},
		{[]string{"-min-delay", "0s"}, "-min-delay"},
		{[]string{"-min-delay", "200ms"}, "-max-delay 150ms"},
		{[]string{"-local-delay", "-1ms"}, "-local-delay"},
		{[]string{"-lookups", "0"}, "-lookups 0"},
		{[]string{"-regions", "-2"}, "-regions -2"},
		{[]string{"-alphas", "1,x"}, "-alphas"},
		{[]string{"-qps", "-3"}, "-qps"},
		{[]string{"-cache-span", "0s"}, "-cache-span"},
		{[]string{"-nodes", "many"}, "invalid value"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		_, err := parse(tt.args, &stderr)
		msg := ""
		if err != nil {
			msg = err.Error() + stderr.String()
		}
		if (tt.want == "") != (err == nil) || !strings.Contains(msg, tt.want) {
			t.Errorf("parse(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	var help strings.Builder
	if _, err := parse([]string{"-help"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "make sim") {
		t.Errorf("parse(-help) = %v, printing %q; want ErrHelp and the examples", err, help.String())
	}
	if err := run([]string{"-nodes", "1"}, io.Discard, io.Discard); err == nil {
		t.Error("run(-nodes 1) succeeded")
	}
}
