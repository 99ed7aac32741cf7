package translog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func testKey(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestCheckpointRoundTrip(t *testing.T) {
	s, v := testKey(t, DefaultOrigin)
	tr := testTree(t, 7)
	c := Checkpoint{Origin: DefaultOrigin, Size: 7, Root: mustRoot(t, tr, 7)}
	msg, err := SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), c.Body()+"\n— "+DefaultOrigin+" ") {
		t.Errorf("signed checkpoint:\n%s\nwant body %q then a signature line", msg, c.Body())
	}
	for _, origin := range []string{DefaultOrigin, ""} {
		got, err := OpenCheckpoint(msg, origin, v)
		if err != nil || got != c {
			t.Errorf("OpenCheckpoint(origin %q) = %+v, %v; want %+v", origin, got, err, c)
		}
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	s, v := testKey(t, DefaultOrigin)
	other, _ := testKey(t, DefaultOrigin)
	sign := func(signer note.Signer, text string) []byte {
		t.Helper()
		msg, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	good := sign(s, DefaultOrigin+"\n3\n"+strings.Repeat("A", 43)+"=\n")
	tampered := []byte(strings.Replace(string(good), "\n3\n", "\n4\n", 1))
	for _, tc := range []struct {
		name   string
		msg    []byte
		origin string
	}{
		{"another key", sign(other, DefaultOrigin+"\n3\n"+strings.Repeat("A", 43)+"=\n"), DefaultOrigin},
		{"tampered body", tampered, DefaultOrigin},
		{"wrong origin", good, "other.example/log"},
		{"not a note", []byte("hello\n"), DefaultOrigin},
		{"two lines", sign(s, DefaultOrigin+"\n3\n"), DefaultOrigin},
		{"size not decimal", sign(s, DefaultOrigin+"\n0x3\n"+strings.Repeat("A", 43)+"=\n"), DefaultOrigin},
		{"size leading zero", sign(s, DefaultOrigin+"\n03\n"+strings.Repeat("A", 43)+"=\n"), DefaultOrigin},
		{"root short", sign(s, DefaultOrigin+"\n3\nAAAA\n"), DefaultOrigin},
		{"root not base64", sign(s, DefaultOrigin+"\n3\n"+strings.Repeat("!", 44)+"\n"), DefaultOrigin},
	} {
		if c, err := OpenCheckpoint(tc.msg, tc.origin, v); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: OpenCheckpoint = %+v, %v; want ErrCheckpoint", tc.name, c, err)
		}
	}
	// Extension lines are allowed.
	ext := sign(s, DefaultOrigin+"\n3\n"+strings.Repeat("A", 43)+"=\nextension\n")
	if c, err := OpenCheckpoint(ext, DefaultOrigin, v); err != nil || c.Size != 3 {
		t.Errorf("OpenCheckpoint(extension line) = %+v, %v", c, err)
	}
}

func TestLoadSigner(t *testing.T) {
	skey, vkey, err := GenerateKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: "example.org/log", Size: 0, Root: mustRoot(t, NewTree(), 0)}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(msg, "", v); err != nil {
		t.Errorf("checkpoint signed with the loaded key: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte(vkey), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(bad); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("LoadSigner(verifier key) = %v, want ErrCheckpoint", err)
	}
	if _, err := NewVerifier(skey); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("NewVerifier(signer key) = %v, want ErrCheckpoint", err)
	}
}

// fixedKey is a key made from a fixed seed, so fuzz seeds stay valid.
func fixedKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func FuzzOpenCheckpoint(f *testing.F) {
	s, v := fixedKey(f)
	for _, size := range []uint64{0, 1, 1 << 40} {
		root := sha256.Sum256(nil)
		if size > 0 {
			root[0] = byte(size)
		}
		msg, err := SignCheckpoint(Checkpoint{Origin: DefaultOrigin, Size: size, Root: root}, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	ext, _ := note.Sign(&note.Note{Text: DefaultOrigin + "\n3\n" + strings.Repeat("A", 43) + "=\nextra\n"}, s)
	f.Add(ext)
	f.Add([]byte("x\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := OpenCheckpoint(msg, DefaultOrigin, v)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("OpenCheckpoint error %v does not wrap ErrCheckpoint", err)
			}
			return
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			t.Fatalf("OpenCheckpoint accepted a note note.Open refuses: %v", err)
		}
		if !strings.HasPrefix(n.Text, c.Body()) {
			t.Fatalf("accepted checkpoint %+v, but the note text %q does not start with %q", c, n.Text, c.Body())
		}
	})
}
