package translog_test

import (
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"golang.org/x/mod/sumdb/note"
)

// A registry appends entries and signs a checkpoint; a reader checks that
// an entry is in the log the checkpoint describes.
func Example() {
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		panic(err)
	}
	signer, _ := note.NewSigner(skey)

	tree := translog.NewTree()
	var leaves [][]byte
	for i, zone := range []string{"example.org.", "example.net.", "example.com."} {
		leaf, err := translog.Entry{Kind: translog.KindRegistration, Time: time.Unix(1_800_000_000+int64(i), 0),
			Zone: zone, Group: "g1", Actor: "operator"}.MarshalBinary()
		if err != nil {
			panic(err)
		}
		tree.Append(leaf)
		leaves = append(leaves, leaf)
	}
	root, _ := tree.Root(tree.Size())
	signed, _ := translog.SignCheckpoint(translog.Checkpoint{Origin: translog.DefaultOrigin, Size: tree.Size(), Root: root}, signer)

	// The reader has the verifier key, the signed checkpoint, a leaf and
	// its inclusion proof.
	verifier, _ := translog.NewVerifier(vkey)
	cp, err := translog.OpenCheckpoint(signed, translog.DefaultOrigin, verifier)
	if err != nil {
		panic(err)
	}
	proof, _ := tree.InclusionProof(1, cp.Size)
	fmt.Println("included:", translog.VerifyInclusion(leaves[1], 1, cp.Size, cp.Root, proof) == nil)
	e, _ := translog.ParseEntry(leaves[1])
	fmt.Println(e.Kind, e.Zone, e.Time.Format(time.RFC3339))
	// Output:
	// included: true
	// registration example.net. 2027-01-15T08:00:01Z
}
