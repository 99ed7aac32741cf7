package hostport

import "testing"

func TestSplit(t *testing.T) {
	tests := []struct {
		addr     string
		host     string
		port     int
		wantFail bool
	}{
		{"127.0.0.1:53", "127.0.0.1", 53, false},
		{"[::1]:8053", "::1", 8053, false},
		{":0", "", 0, false},
		{"localhost:65535", "localhost", 65535, false},
		{"127.0.0.1:65536", "", 0, true},
		{"127.0.0.1:-1", "", 0, true},
		{"127.0.0.1:dns", "", 0, true},
		{"127.0.0.1", "", 0, true},
		{"::1:53", "", 0, true},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		host, port, err := Split(tt.addr)
		if (err != nil) != tt.wantFail || host != tt.host || port != tt.port {
			t.Errorf("Split(%q) = %q, %d, %v; want %q, %d, fail %v", tt.addr, host, port, err, tt.host, tt.port, tt.wantFail)
		}
	}
}
