package zone

import (
	"testing"
	"time"
)

func TestPrepare(t *testing.T) {
	k := exampleKey(t, "example.", 1)
	u := loadExample(t)
	now := signNow
	z, act, err := Prepare(nil, u, k, now)
	if err != nil || act != Signed {
		t.Fatalf("Prepare(nothing stored) = %v, %v, want Signed", act, err)
	}
	if err := CheckSigned(z, k, now); err != nil {
		t.Errorf("CheckSigned(first signing): %v", err)
	}
	if _, act, err := Prepare(z, u, k, now.Add(time.Hour)); err != nil || act != Unchanged {
		t.Errorf("Prepare(same content) = %v, %v, want Unchanged", act, err)
	}
	later := now.Add(25 * 24 * time.Hour)
	r, act, err := Prepare(z, u, k, later)
	if err != nil || act != Refreshed || r.Serial() != z.Serial()+1 {
		t.Errorf("Prepare(25 days later) = %v serial %d, %v, want Refreshed serial %d", act, r.Serial(), err, z.Serial()+1)
	} else if err := CheckSigned(r, k, later.Add(20*24*time.Hour)); err != nil {
		t.Errorf("CheckSigned(refreshed, 45 days on): %v", err)
	}
	k2 := exampleKey(t, "example.", 2)
	r, act, err = Prepare(z, u, k2, now)
	if err != nil || act != Signed || r.Serial() != z.Serial()+1 {
		t.Errorf("Prepare(new key) = %v serial %d, %v, want Signed serial %d", act, r.Serial(), err, z.Serial()+1)
	} else if err := CheckSigned(r, k2, now); err != nil {
		t.Errorf("CheckSigned(new key): %v", err)
	}
	// A serial in the owner's file above the stored one wins.
	hi, err := withSerial(u, z.Serial()+100)
	if err != nil {
		t.Fatalf("withSerial: %v", err)
	}
	if r, act, err := Prepare(z, hi, k, now); err != nil || act != Updated || r.Serial() != z.Serial()+100 {
		t.Errorf("Prepare(file serial +100) = %v serial %d, %v, want Updated %d", act, r.Serial(), err, z.Serial()+100)
	}
	// Changed content: re-signed incrementally, the serial one up.
	edited, err := New(u.Origin, append(u.Records(), mkParse(t, "example.", "added 300 IN A 192.0.2.99")...))
	if err != nil {
		t.Fatalf("New(edited) = %v", err)
	}
	r, act, err = Prepare(z, edited, k, now)
	if err != nil || act != Updated || r.Serial() != z.Serial()+1 {
		t.Errorf("Prepare(edited) = %v serial %d, %v, want Updated serial %d", act, r.Serial(), err, z.Serial()+1)
	} else if err := CheckSigned(r, k, now); err != nil {
		t.Errorf("CheckSigned(edited): %v", err)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Unchanged: "unchanged", Signed: "signed", Updated: "updated", Refreshed: "re-signed", 9: "Action(9)"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", uint8(a), got, want)
		}
	}
}

func TestDateSerial(t *testing.T) {
	day := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
	for _, tt := range []struct {
		stored, want uint32
	}{
		{1, 2026120600},
		{2026120500, 2026120600},
		{2026120600, 2026120601},
		{2026120699, 2026120700}, // the 100th change of the day borrows tomorrow
		{2027010100, 2027010101}, // ahead of the date: one up
	} {
		if got := DateSerial(tt.stored, day); got != tt.want {
			t.Errorf("DateSerial(%d, %s) = %d, want %d", tt.stored, day.Format(time.DateOnly), got, tt.want)
		}
	}
}
