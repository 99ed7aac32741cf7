package zone

import "testing"

func TestSerialAbove(t *testing.T) {
	tests := []struct {
		a, b uint32
		want bool
	}{
		{2, 1, true},
		{1, 1, false},
		{1, 2, false},
		{0, 0xFFFFFFFF, true}, // wrapped
		{1 << 31, 0, false},   // undefined in RFC 1982: refuse
		{1<<31 - 1, 0, true},
		{0, 1 << 31, false},
	}
	for _, tt := range tests {
		if got := SerialAbove(tt.a, tt.b); got != tt.want {
			t.Errorf("SerialAbove(%d, %d) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
