package translog

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// DefaultOrigin is the registry log's origin line (and its key's name)
// unless configured otherwise.
const DefaultOrigin = "ddnrs.registry/log"

// Checkpoint is what a signed checkpoint commits to
// (https://c2sp.org/tlog-checkpoint): the log's origin, its size and the
// root of its first Size leaves.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
}

// Body returns the checkpoint's note text: "<origin>\n<size>\n<base64
// root>\n".
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// SignCheckpoint returns c as a signed note, signed by s.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") {
		return nil, fmt.Errorf("%w: origin %q must be one non-empty line", ErrCheckpoint, c.Origin)
	}
	return note.Sign(&note.Note{Text: c.Body()}, s)
}

// OpenCheckpoint verifies msg, a signed checkpoint, with v and returns
// what it commits to. The first line must be origin ("" means v's key
// name, which by convention is the origin). Extension lines after the
// root are allowed and ignored. Any failure (no signature by v, a bad
// signature, another origin, a malformed body) is ErrCheckpoint.
func OpenCheckpoint(msg []byte, origin string, v note.Verifier) (Checkpoint, error) {
	if origin == "" {
		origin = v.Name()
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	lines := strings.Split(n.Text, "\n")
	// Text ends in "\n", so the last element is "".
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("%w: %d lines, want origin, size and root", ErrCheckpoint, len(lines)-1)
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin != origin {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, want %q", ErrCheckpoint, c.Origin, origin)
	}
	if c.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil || strconv.FormatUint(c.Size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: size %q is not a decimal number", ErrCheckpoint, lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return Checkpoint{}, fmt.Errorf("%w: root %q is not 32 bytes of base64", ErrCheckpoint, lines[2])
	}
	copy(c.Root[:], root)
	if c.Size == 0 && c.Root != sha256.Sum256(nil) {
		return Checkpoint{}, fmt.Errorf("%w: size 0 with a root that is not the empty tree's", ErrCheckpoint)
	}
	return c, nil
}

// GenerateKey returns a new Ed25519 signer key (skey: keep it secret, the
// registry signs checkpoints with it) and its verifier key (vkey: publish
// it, monitors check checkpoints with it), both in the note key formats.
// name is the key name, by convention the log's origin.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// LoadSigner reads a signer key written by GenerateKey (one line, "PRIVATE+KEY+..."),
// for example by `ddnrs log keygen`, which creates it with mode 0600. The
// mode is not checked here; keep the file private.
func LoadSigner(path string) (note.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: signer key %s: %v", ErrCheckpoint, path, err)
	}
	return s, nil
}

// NewVerifier parses a verifier key ("<name>+<hash>+<base64>") as
// GenerateKey returns it.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key: %v", ErrCheckpoint, err)
	}
	return v, nil
}
